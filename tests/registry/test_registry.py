"""test_registry — eddyd's schema registry over HTTP (urllib, /usr/bin/python3): the Confluent
REST API (register/lookup/versions/ids/delete/config/mode/compatibility), the error bodies and
codes for bad input (nothing stored, the server keeps serving), and durability: schemas, ids
and configs survive SIGKILL + restart, ids stay stable and are never reused.

Runs a real eddyd through tests/harness/eddyd.py with --set http.listeners=...
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EDDY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from eddyd import Eddyd, Results  # noqa: E402

CT = "application/vnd.schemaregistry.v1+json"
HTTP_RE = re.compile(r"http listening on 127\.0\.0\.1:(\d+)")


class Reg:
    def __init__(self, broker):
        self.broker = broker

    @property
    def base(self):
        m = HTTP_RE.findall(self.broker.log_text())
        assert m, "no http port in the log"
        return "http://127.0.0.1:%s" % m[-1]

    def call(self, method, path, body=None, raw=None, ctype=CT):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, _parse(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _parse(e.read())

    def ok(self, method, path, body=None, **kw):
        st, b = self.call(method, path, body, **kw)
        assert st == 200, "%s %s -> %s %s" % (method, path, st, b)
        return b

    def err(self, method, path, body, status, code, **kw):
        st, b = self.call(method, path, body, **kw)
        assert st == status and isinstance(b, dict) and b.get("error_code") == code, \
            "%s %s: expected %s/%s, got %s %s" % (method, path, status, code, st, b)
        assert isinstance(b.get("message"), str) and b["message"], b
        return b


def _parse(b):
    try:
        return json.loads(b.decode())
    except ValueError:
        return b.decode(errors="replace")


def avro_rec(name, fields):
    return json.dumps({"type": "record", "name": name, "namespace": "it",
                       "fields": [dict(f) for f in fields]})


V1 = avro_rec("User", [{"name": "id", "type": "long"}])
V2 = avro_rec("User", [{"name": "id", "type": "long"},
                       {"name": "email", "type": ["null", "string"], "default": None}])
V3_BAD = avro_rec("User", [{"name": "id", "type": "long"},
                           {"name": "age", "type": "int"}])
JS1 = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}})
JS2_BAD = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}},
                      "required": ["n"]})


def case_basics(r):
    assert sorted(r.ok("GET", "/schemas/types")) == ["AVRO", "JSON"]
    assert r.ok("GET", "/config") == {"compatibilityLevel": "BACKWARD"}
    assert r.ok("GET", "/mode") == {"mode": "READWRITE"}
    assert r.ok("GET", "/subjects") == []
    r.err("PUT", "/config", {"compatibility": "SIDEWAYS"}, 422, 42203)
    assert r.ok("PUT", "/config", {"compatibility": "FULL"}) == {"compatibility": "FULL"}
    assert r.ok("GET", "/config") == {"compatibilityLevel": "FULL"}
    assert r.ok("DELETE", "/config") == {"compatibilityLevel": "FULL"}
    assert r.ok("GET", "/config") == {"compatibilityLevel": "BACKWARD"}


def case_register_avro(r):
    a = r.ok("POST", "/subjects/users-value/versions", {"schema": V1})
    again = r.ok("POST", "/subjects/users-value/versions", {"schema": V1})
    assert a == again and isinstance(a["id"], int), (a, again)
    # whitespace-different text of the same schema: same id
    spaced = json.dumps(json.loads(V1), indent=2)
    assert r.ok("POST", "/subjects/users-value/versions", {"schema": spaced}) == a
    # the same schema with its keys in another order and {"type":"long"}: same id
    reordered = json.dumps({"fields": [{"type": {"type": "long"}, "name": "id"}],
                            "namespace": "it", "name": "User", "type": "record"})
    assert r.ok("POST", "/subjects/users-value/versions", {"schema": reordered}) == a
    # application/json works too
    assert r.ok("POST", "/subjects/users-value/versions", {"schema": V1},
                ctype="application/json") == a
    b = r.ok("POST", "/subjects/users-value/versions", {"schema": V2})
    assert b["id"] > a["id"]
    assert r.ok("GET", "/subjects/users-value/versions") == [1, 2]
    assert "users-value" in r.ok("GET", "/subjects")
    latest = r.ok("GET", "/subjects/users-value/versions/latest")
    assert latest["version"] == 2 and latest["id"] == b["id"] and latest["subject"] == "users-value"
    assert json.loads(latest["schema"]) == json.loads(V2)
    assert "schemaType" not in latest  # AVRO is implied, as in Confluent
    assert json.loads(json.dumps(r.ok("GET", "/subjects/users-value/versions/1/schema"))) \
        == json.loads(V1)
    s = r.ok("GET", "/schemas/ids/%d" % a["id"])
    assert json.loads(s["schema"]) == json.loads(V1)
    assert r.ok("GET", "/schemas/ids/%d/versions" % b["id"]) == \
        [{"subject": "users-value", "version": 2}]
    assert r.ok("GET", "/schemas/ids/%d/subjects" % b["id"]) == ["users-value"]
    # the same schema in another subject keeps its id
    assert r.ok("POST", "/subjects/other-value/versions", {"schema": V1}) == a
    # look up
    lk = r.ok("POST", "/subjects/users-value", {"schema": V2})
    assert lk["version"] == 2 and lk["id"] == b["id"]
    r.err("POST", "/subjects/users-value",
          {"schema": avro_rec("Nope", [{"name": "x", "type": "int"}])}, 404, 40403)
    r.err("POST", "/subjects/no-such", {"schema": V1}, 404, 40401)


def case_incompatible(r):
    before = r.ok("GET", "/subjects/users-value/versions")
    e = r.err("POST", "/subjects/users-value/versions", {"schema": V3_BAD}, 409, 409)
    assert "age" in e["message"] and "READER_FIELD_MISSING_DEFAULT_VALUE" in e["message"], e
    assert r.ok("GET", "/subjects/users-value/versions") == before
    c = r.ok("POST", "/compatibility/subjects/users-value/versions/latest?verbose=true",
             {"schema": V3_BAD})
    assert c["is_compatible"] is False and any("age" in m for m in c["messages"]), c
    assert r.ok("POST", "/compatibility/subjects/users-value/versions/latest",
                {"schema": V2}) == {"is_compatible": True}
    assert r.ok("POST", "/compatibility/subjects/users-value/versions/1",
                {"schema": V2})["is_compatible"] is True
    # NONE on the subject lets it through
    assert r.ok("PUT", "/config/users-value", {"compatibility": "NONE"}) == \
        {"compatibility": "NONE"}
    assert r.ok("GET", "/config/users-value") == {"compatibilityLevel": "NONE"}
    c = r.ok("POST", "/compatibility/subjects/users-value/versions/latest", {"schema": V3_BAD})
    assert c["is_compatible"] is True
    assert r.ok("DELETE", "/config/users-value") == {"compatibilityLevel": "NONE"}
    r.err("GET", "/config/users-value", None, 404, 40408)
    assert r.ok("GET", "/config/users-value?defaultToGlobal=true") == \
        {"compatibilityLevel": "BACKWARD"}


def case_json_schema(r):
    a = r.ok("POST", "/subjects/j-value/versions", {"schemaType": "JSON", "schema": JS1})
    g = r.ok("GET", "/schemas/ids/%d" % a["id"])
    assert g["schemaType"] == "JSON" and json.loads(g["schema"]) == json.loads(JS1)
    v = r.ok("GET", "/subjects/j-value/versions/1")
    assert v["schemaType"] == "JSON"
    e = r.err("POST", "/subjects/j-value/versions", {"schemaType": "JSON", "schema": JS2_BAD},
              409, 409)
    assert "REQUIRED_PROPERTY_ADDED" in e["message"] and "'n'" in e["message"], e
    # an AVRO lookup of a JSON schema text is a different schema
    r.err("POST", "/subjects/j-value", {"schema": JS1}, 422, 42201)


def case_references(r):
    addr = json.dumps({"type": "record", "name": "Address", "namespace": "it",
                       "fields": [{"name": "city", "type": "string"}]})
    ra = r.ok("POST", "/subjects/address/versions", {"schema": addr})
    person = json.dumps({"type": "record", "name": "Person", "namespace": "it",
                         "fields": [{"name": "home", "type": "it.Address"}]})
    r.err("POST", "/subjects/person/versions", {"schema": person}, 422, 42201)
    refs = [{"name": "it.Address", "subject": "address", "version": 1}]
    rp = r.ok("POST", "/subjects/person/versions", {"schema": person, "references": refs})
    assert rp["id"] != ra["id"]
    got = r.ok("GET", "/schemas/ids/%d" % rp["id"])
    assert got["references"] == refs, got
    assert r.ok("GET", "/subjects/address/versions/1/referencedby") == [rp["id"]]
    r.err("POST", "/subjects/person/versions",
          {"schema": person, "references": [{"name": "it.Address", "subject": "address",
                                             "version": 7}]}, 422, 42201)
    # a referenced schema cannot be deleted while a live schema uses it
    r.err("DELETE", "/subjects/address/versions/1", None, 422, 42206)
    r.err("DELETE", "/subjects/address", None, 422, 42206)
    assert r.ok("GET", "/subjects/address/versions") == [1]


def case_deletes(r):
    s1 = r.ok("POST", "/subjects/del-me/versions",
              {"schema": avro_rec("D", [{"name": "a", "type": "int"}])})
    s2 = r.ok("POST", "/subjects/del-me/versions",
              {"schema": avro_rec("D", [{"name": "a", "type": "int"},
                                        {"name": "b", "type": "int", "default": 0}])})
    r.err("DELETE", "/subjects/del-me/versions/2?permanent=true", None, 404, 40407)
    assert r.ok("DELETE", "/subjects/del-me/versions/2") == 2
    r.err("DELETE", "/subjects/del-me/versions/2", None, 404, 40406)
    assert r.ok("GET", "/subjects/del-me/versions") == [1]
    assert r.ok("GET", "/subjects/del-me/versions?deleted=true") == [1, 2]
    r.err("GET", "/subjects/del-me/versions/2", None, 404, 40402)
    # a soft-deleted schema is still readable by id (consumers of old data)
    r.ok("GET", "/schemas/ids/%d" % s2["id"])
    assert r.ok("DELETE", "/subjects/del-me/versions/2?permanent=true") == 2
    r.err("DELETE", "/subjects/del-me?permanent=true", None, 404, 40405)
    assert r.ok("DELETE", "/subjects/del-me") == [1]
    assert "del-me" not in r.ok("GET", "/subjects")
    assert "del-me" in r.ok("GET", "/subjects?deleted=true")
    r.err("GET", "/subjects/del-me/versions", None, 404, 40401)
    assert r.ok("DELETE", "/subjects/del-me?permanent=true") == [1]
    r.err("DELETE", "/subjects/del-me", None, 404, 40401)
    r.err("GET", "/schemas/ids/%d" % s1["id"], None, 404, 40403)
    r.err("GET", "/schemas/ids/%d" % s2["id"], None, 404, 40403)
    # a new schema never reuses a deleted id
    n = r.ok("POST", "/subjects/del-me/versions",
             {"schema": avro_rec("D2", [{"name": "z", "type": "int"}])})
    assert n["id"] > s2["id"], (n, s2)
    r.deleted_max = n["id"]


def case_bad_input(r):
    subjects = r.ok("GET", "/subjects")
    versions = r.ok("GET", "/subjects/users-value/versions")
    P = "/subjects/bad-value/versions"
    r.err("POST", P, None, 400, 400, raw=b"{not json")
    r.err("POST", P, None, 400, 400, raw=b"")
    r.err("POST", P, None, 422, 422, raw=b"[1,2]")
    r.err("POST", P, {}, 422, 42201)
    r.err("POST", P, {"schema": 42}, 422, 42201)
    r.err("POST", P, {"schema": "{\"type\":\"record\"}"}, 422, 42201)
    r.err("POST", P, {"schema": "not json at all"}, 422, 42201)
    r.err("POST", P, {"schema": "\"NoSuchType\""}, 422, 42201)
    r.err("POST", P, {"schemaType": "JSON", "schema": "{\"type\":\"strin\"}"}, 422, 42201)
    r.err("POST", P, {"schemaType": "XML", "schema": "{}"}, 422, 42201)
    r.err("POST", P, {"schema": V1, "references": "x"}, 422, 42201)
    # lookup and compatibility read their body the same way
    for path in ("/subjects/users-value", "/compatibility/subjects/users-value/versions/latest"):
        r.err("POST", path, None, 400, 400, raw=b"{not json")
        r.err("POST", path, None, 422, 422, raw=b"[1,2]")
        r.err("POST", path, {"schema": 42}, 422, 42201)
    r.err("GET", "/subjects/nope/versions", None, 404, 40401)
    r.err("GET", "/subjects/nope/versions/1", None, 404, 40401)
    r.err("GET", "/subjects/users-value/versions/99", None, 404, 40402)
    r.err("GET", "/subjects/users-value/versions/abc", None, 422, 42202)
    r.err("GET", "/subjects/users-value/versions/0", None, 422, 42202)
    r.err("DELETE", "/subjects/users-value/versions/-5", None, 422, 42202)
    r.err("GET", "/schemas/ids/99999", None, 404, 40403)
    r.err("GET", "/schemas/ids/xyz", None, 404, 40403)
    r.err("POST", "/compatibility/subjects/nope/versions/latest", {"schema": V1}, 404, 40401)
    r.err("POST", "/compatibility/subjects/users-value/versions/42", {"schema": V1}, 404, 40402)
    r.err("PUT", "/mode", {"mode": "SLEEPY"}, 422, 42204)
    r.err("PUT", "/config/users-value", {"compatibility": 7}, 422, 42203)
    # subject names that are not UTF-8 or hold control characters
    r.err("POST", "/subjects/%FF%FE/versions", {"schema": V1}, 422, 42208)
    r.err("POST", "/subjects/a%01b/versions", {"schema": V1}, 422, 42208)
    r.err("PUT", "/config/%FF", {"compatibility": "NONE"}, 422, 42208)
    r.err("PUT", "/mode/%C3%28", {"mode": "READONLY"}, 422, 42208)
    r.err("GET", "/subjects/%FF/versions", None, 404, 40401)
    # UTF-8 subjects are fine
    uid = r.ok("POST", "/subjects/%C3%A9v%C3%A9nement/versions", {"schema": V1})["id"]
    got = r.ok("GET", "/subjects/%C3%A9v%C3%A9nement/versions/1")
    assert got["subject"] == "\u00e9v\u00e9nement", got
    r.ok("DELETE", "/subjects/%C3%A9v%C3%A9nement")
    r.ok("DELETE", "/subjects/%C3%A9v%C3%A9nement?permanent=true")
    assert isinstance(uid, int)
    # huge bodies: over the registry's limit, and over the HTTP port's limit
    big = json.dumps({"schema": json.dumps({"type": "record", "name": "Big", "doc": "x" * 700000,
                                            "fields": []})}).encode()
    r.err("POST", P, None, 413, 413, raw=big)
    # past the HTTP port's own 16 MiB limit the server answers 413 before the upload ends and
    # may close the connection while the client is still sending: either outcome is fine, as
    # long as the server keeps serving (checked below)
    try:
        r.err("POST", P, None, 413, 413, raw=b"{" + b" " * (17 << 20) + b"}")
    except (urllib.error.URLError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        assert isinstance(reason, (BrokenPipeError, ConnectionResetError)), e
    deep = ("[" * 5000 + "]" * 5000).encode()
    st, _ = r.call("POST", P, None, raw=deep)
    assert st in (400, 422), st
    assert r.ok("GET", "/subjects") == subjects
    assert r.ok("GET", "/subjects/users-value/versions") == versions
    r.err("GET", "/subjects/bad-value/versions", None, 404, 40401)


def case_nul_names(r):
    """A NUL ("%00") or control character in a subject is refused everywhere a subject is taken,
    with 42208 — it never acts on the subject before the NUL."""
    r.ok("POST", "/subjects/nul-victim/versions", {"schema": V1})
    before = snapshot(r)
    for method, path, body in [
            ("POST", "/subjects/nul-victim%00x/versions", {"schema": V2}),
            ("POST", "/subjects/nul-victim%00x", {"schema": V1}),
            ("GET", "/subjects/nul-victim%00x/versions", None),
            ("GET", "/subjects/nul-victim%00x/versions/1", None),
            ("DELETE", "/subjects/nul-victim%00x", None),
            ("DELETE", "/subjects/nul-victim%00x/versions/1", None),
            ("POST", "/compatibility/subjects/nul-victim%00x/versions", {"schema": V3_BAD}),
            ("PUT", "/config/nul-victim%00x", {"compatibility": "NONE"}),
            ("GET", "/config/nul-victim%00x", None),
            ("DELETE", "/config/nul-victim%00x", None),
            ("PUT", "/mode/nul-victim%00x", {"mode": "READONLY"}),
            ("GET", "/mode/nul-victim%00x", None),
            ("GET", "/subjects?subjectPrefix=nul%00x", None),
            ("GET", "/subjects/nul-victim%01x/versions", None),
            ("DELETE", "/subjects/nul-victim%1F", None),
            ("POST", "/compatibility/subjects/a%7Fb/versions", {"schema": V1})]:
        b = r.err(method, path, body, 422, 42208)
        assert "NUL" in b["message"] or "control" in b["message"], b
    assert snapshot(r) == before, "a refused name changed the registry"
    assert r.ok("GET", "/subjects/nul-victim/versions") == [1]
    r.err("GET", "/config/nul-victim", None, 404, 40408)
    r.err("GET", "/mode/nul-victim", None, 404, 40409)
    r.ok("DELETE", "/subjects/nul-victim")
    r.ok("DELETE", "/subjects/nul-victim?permanent=true")


def case_mutated_schemas(r):
    """300 deterministic mutations of valid schemas posted to register/compatibility/lookup:
    every answer is a documented status, and the server keeps serving."""
    import random
    rnd = random.Random(5)
    seeds = [V1, V2, JS1, json.dumps(
        {"type": "record", "name": "L", "fields": [
            {"name": "n", "type": ["null", "L"]},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"],
                                   "default": "A"}},
            {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": {
                "type": "fixed", "name": "F", "size": 4}}}}]})]
    bits = ['"null"', '"int"', '{"type":"record","name":"X","fields":[]}', '"default":1',
            '"$ref":"#/x"', '"additionalProperties":false', '"required":["a"]', "{}[]\",:"]
    for _ in range(300):
        base = rnd.choice(seeds)
        s = list(base)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(s))
            if rnd.random() < 0.4:
                del s[i]
            else:
                s[i:i] = list(rnd.choice(bits))
        body = {"schema": "".join(s)}
        if base == JS1 or rnd.random() < 0.2:
            body["schemaType"] = "JSON"
        subj = "mut%d" % rnd.randrange(3)
        path = rnd.choice(["/subjects/%s/versions" % subj, "/subjects/%s" % subj,
                           "/compatibility/subjects/%s/versions/latest?verbose=true" % subj])
        st, b = r.call("POST", path, body)
        assert st in (200, 404, 409, 422), (st, b, body)
        if st != 200:
            assert isinstance(b, dict) and isinstance(b.get("error_code"), int), b
    assert r.ok("GET", "/schemas/types")


def case_readonly(r):
    assert r.ok("PUT", "/mode", {"mode": "READONLY"}) == {"mode": "READONLY"}
    r.err("POST", "/subjects/ro/versions", {"schema": V1}, 422, 42205)
    assert r.ok("PUT", "/mode", {"mode": "READWRITE"}) == {"mode": "READWRITE"}


def case_modes(r):
    """Subject-level modes, IMPORT with chosen ids (persisted across SIGKILL)."""
    r.err("GET", "/mode/ro-subj", None, 404, 40409)
    assert r.ok("GET", "/mode/ro-subj?defaultToGlobal=true") == {"mode": "READWRITE"}
    assert r.ok("PUT", "/mode/ro-subj", {"mode": "READONLY"}) == {"mode": "READONLY"}
    r.err("POST", "/subjects/ro-subj/versions", {"schema": V1}, 422, 42205)
    r.ok("POST", "/subjects/rw-subj/versions", {"schema": V1})
    # an id may only be chosen in IMPORT mode
    r.err("POST", "/subjects/imp/versions", {"schema": V1, "id": 5000}, 422, 42205)
    assert r.ok("PUT", "/mode/imp", {"mode": "IMPORT"}) == {"mode": "IMPORT"}
    imp = avro_rec("Imported", [{"name": "i", "type": "int"}])
    assert r.ok("POST", "/subjects/imp/versions", {"schema": imp, "id": 5000,
                                                   "version": 7}) == {"id": 5000}
    v = r.ok("GET", "/subjects/imp/versions/7")
    assert v["id"] == 5000 and v["version"] == 7, v
    # an id in use for another schema cannot be overwritten
    other = avro_rec("Other", [{"name": "o", "type": "int"}])
    r.err("POST", "/subjects/imp/versions", {"schema": other, "id": 5000}, 422, 42205)
    r.err("POST", "/subjects/imp/versions", {"schema": other, "id": -3}, 422, 42201)
    r.broker.kill()
    r.broker.start()
    assert r.ok("GET", "/mode/ro-subj") == {"mode": "READONLY"}
    assert r.ok("GET", "/mode/imp") == {"mode": "IMPORT"}
    assert r.ok("DELETE", "/mode/imp") == {"mode": "IMPORT"}
    assert r.ok("DELETE", "/mode/ro-subj") == {"mode": "READONLY"}
    r.err("GET", "/mode/imp", None, 404, 40409)
    # ids continue after the imported one
    n = r.ok("POST", "/subjects/after-import/versions", {"schema": other})["id"]
    assert n == 5001, n
    assert r.ok("GET", "/schemas/ids/5000")["schema"] == json.dumps(json.loads(imp),
                                                                    separators=(",", ":"))


def snapshot(r):
    snap = {}
    for s in r.ok("GET", "/subjects"):
        for v in r.ok("GET", "/subjects/%s/versions" % s):
            snap[(s, v)] = r.ok("GET", "/subjects/%s/versions/%d" % (s, v))
    return snap


def case_restart(r, kill):
    r.ok("PUT", "/config/users-value", {"compatibility": "FULL"})
    before = snapshot(r)
    ids = sorted({v["id"] for v in before.values()})
    max_id = max(ids + [getattr(r, "deleted_max", 0)])
    if kill:
        r.broker.kill()
        r.broker.start()
    else:
        r.broker.restart()
    after = snapshot(r)
    assert after == before, (before, after)
    for i in ids:
        r.ok("GET", "/schemas/ids/%d" % i)
    assert r.ok("GET", "/config/users-value") == {"compatibilityLevel": "FULL"}
    # registering an existing schema gives its old id; a new one gets a never-used id
    assert r.ok("POST", "/subjects/users-value/versions", {"schema": V2})["id"] == \
        before[("users-value", 2)]["id"]
    fresh = r.ok("POST", "/subjects/fresh-%s/versions" % ("kill" if kill else "term"),
                 {"schema": avro_rec("F%d" % max_id, [{"name": "q", "type": "int"}])})
    assert fresh["id"] == max_id + 1, (fresh, max_id)


def case_deleted_top_id(r):
    """The highest id, permanently deleted, is still not reused after a SIGKILL."""
    top = r.ok("POST", "/subjects/top/versions",
               {"schema": avro_rec("Top", [{"name": "t", "type": "int"}])})["id"]
    r.ok("DELETE", "/subjects/top")
    r.ok("DELETE", "/subjects/top?permanent=true")
    r.err("GET", "/schemas/ids/%d" % top, None, 404, 40403)
    r.broker.kill()
    r.broker.start()
    r.err("GET", "/schemas/ids/%d" % top, None, 404, 40403)
    n = r.ok("POST", "/subjects/top/versions",
             {"schema": avro_rec("Top2", [{"name": "t", "type": "int"}])})["id"]
    assert n == top + 1, (top, n)


def case_compaction(_):
    """_schemas compacted (small segments, tombstones dropped at once): after a SIGKILL the
    registry replays the compacted log to the same state, and the permanently deleted top id is
    still not reused (ID_WATERMARK)."""
    b = Eddyd(sets=["http.listeners=127.0.0.1:0", "log.segment.bytes=16384",
                    "log.retention.check.interval.ms=100",
                    "log.cleaner.delete.retention.ms=0"])
    try:
        r = Reg(b)
        pad = "p" * 2000
        for i in range(30):
            sch = json.dumps({"type": "record", "name": "C%d" % i, "doc": pad,
                              "fields": [{"name": "f", "type": "int"}]})
            r.ok("POST", "/subjects/c%d/versions" % (i % 5), {"schema": sch})
            r.ok("PUT", "/config/c%d" % (i % 5), {"compatibility": "NONE"})
        top = r.ok("POST", "/subjects/gone/versions",
                   {"schema": avro_rec("Gone", [{"name": "g", "type": "int"}])})["id"]
        r.ok("DELETE", "/subjects/gone")
        r.ok("DELETE", "/subjects/gone?permanent=true")
        r.ok("DELETE", "/subjects/c0/versions/1")
        # more writes so the segments holding the deletes roll and become compactable
        r.ok("PUT", "/config/pad", {"compatibility": "NONE"})
        for i in range(10):
            r.ok("PUT", "/config", {"compatibility": "FULL" if i % 2 else "BACKWARD"})
            r.ok("PUT", "/config/c%d" % (i % 5), {"compatibility": "NONE"})
            r.ok("POST", "/subjects/pad/versions",
                 {"schema": json.dumps({"type": "record", "name": "Pad%d" % i, "doc": pad,
                                        "fields": []})})
        r.ok("PUT", "/config/pad", {"compatibility": "NONE"})
        before = snapshot(r)
        deleted = r.ok("GET", "/subjects/c0/versions?deleted=true")
        from eddyd import wait_until
        wait_until(lambda: "_schemas-0: compaction rewrote" in b.log_text(), 60,
                   "compaction of _schemas")
        b.kill()
        b.start()
        assert snapshot(r) == before
        assert r.ok("GET", "/subjects/c0/versions?deleted=true") == deleted
        assert r.ok("GET", "/config") == {"compatibilityLevel": "FULL"}
        assert r.ok("GET", "/config/c1") == {"compatibilityLevel": "NONE"}
        r.err("GET", "/schemas/ids/%d" % top, None, 404, 40403)
        n = r.ok("POST", "/subjects/after/versions",
                 {"schema": avro_rec("After", [{"name": "a", "type": "int"}])})["id"]
        assert n == top + 11, (top, n)
    finally:
        b.cleanup()


def main():
    broker = Eddyd(sets=["http.listeners=127.0.0.1:0"])
    r = Reg(broker)
    res = Results(broker)
    res.run("basics: types, config, mode", case_basics, r)
    res.run("register avro: same schema same id, versions, ids, lookup", case_register_avro, r)
    res.run("incompatible change: 409 naming the field, nothing stored", case_incompatible, r)
    res.run("json schema", case_json_schema, r)
    res.run("avro references", case_references, r)
    res.run("soft and permanent deletes, ids never reused", case_deletes, r)
    res.run("bad input: documented codes, nothing stored", case_bad_input, r)
    res.run("NUL and control characters in subjects: 42208 everywhere, nothing changed",
            case_nul_names, r)
    res.run("mutated schemas: documented answers, server keeps serving",
            case_mutated_schemas, r)
    res.run("read-only mode", case_readonly, r)
    res.run("subject modes and IMPORT with chosen ids", case_modes, r)
    res.run("SIGKILL + restart keeps schemas, ids, configs", case_restart, r, True)
    res.run("SIGTERM + restart keeps schemas, ids, configs", case_restart, r, False)
    res.run("permanently deleted top id not reused after SIGKILL", case_deleted_top_id, r)
    res.run("compacted _schemas replays to the same state", case_compaction, r)
    res.finish()


if __name__ == "__main__":
    main()
