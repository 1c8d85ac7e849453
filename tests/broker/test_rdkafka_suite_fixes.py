#!/usr/bin/python3
"""test_rdkafka_suite_fixes — what librdkafka's own test suite found wrong in eddyd
(tests/rdkafka-suite, docs/rdkafka-suite.md), each case failing before its fix.

Against one real eddyd with kafka-python's admin client:
- message.format.version takes Kafka's four-segment form "0.10.0.0" (librdkafka's 0092 sets it
  with AlterConfigs; Kafka reads the leading segments of the version), as well as "0.10.0-IV1"
  and "2.8"; a value that is no version is still INVALID_CONFIG (40) with Kafka's message.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from eddyd import Eddyd, Results  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic  # noqa: E402


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


class Suite:
    def __init__(self, b):
        self.admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=15000)

    def alter(self, topic, configs):
        """(error code, message) of a (non-incremental) AlterConfigs on one topic."""
        r = self.admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                     configs=configs)])
        err, msg, _t, _n = r.resources[0]
        return err, msg

    def described(self, topic, key):
        res = ConfigResource(ConfigResourceType.TOPIC, topic, configs={key: None})
        r = self.admin.describe_configs([res])[0]
        for e in r.resources[0][4]:
            if e[0] == key:
                return e[1]
        raise AssertionError("%s not described for %s" % (key, topic))

    def message_format_version_forms(self):
        self.admin.create_topics([NewTopic("mixed-msgver", 1, 1)])
        for v in ("0.10.0.0", "0.10.0-IV1", "0.11.0", "2.8", "3.0-IV1"):
            eq(self.alter("mixed-msgver", {"message.format.version": v}), (0, None),
               "AlterConfigs message.format.version=%s" % v)
            eq(self.described("mixed-msgver", "message.format.version"), v,
               "described message.format.version after setting %s" % v)
        for v in ("soon", "0.10.0.0.0", "1", "0.10.x"):
            err, msg = self.alter("mixed-msgver", {"message.format.version": v})
            eq(err, 40, "AlterConfigs message.format.version=%s error code" % v)
            want = "Invalid value %s for configuration message.format.version" % v
            if want not in (msg or ""):
                raise AssertionError("message for %s: %r lacks %r" % (v, msg, want))


def main():
    b = Eddyd(["num.partitions=1"])
    r = Results(b)
    s = Suite(b)
    r.run("message.format.version: Kafka's forms (0.10.0.0) accepted, non-versions refused",
          s.message_format_version_forms)
    s.admin.close()
    r.finish()


if __name__ == "__main__":
    main()
