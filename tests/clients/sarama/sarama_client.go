// sarama_client — Shopify's sarama (Debian's golang-github-shopify-sarama-dev 1.22.1), the Go
// client family, against a real eddyd. Two modes, each a list of checks that print "PASS <what>"
// and exit non-zero with "FAIL <what>: <why>" on the first that does not hold:
//
//	everyday  admin (create, describe, list topics, configs), a keyed idempotent producer with
//	          headers, a consumer group that reads every record exactly and commits, the
//	          committed offsets seen through the admin API, a second session of the group that
//	          gets nothing again, gzip/snappy/lz4 read back by a partition consumer, and zstd
//	          refused as Kafka refuses it from this client (Produce v3).
//	secure    produce and read back over the given security protocol and mechanism; with
//	          -expect-fail, the client must fail to connect with an authentication or TLS error
//	          and nothing is produced.
//
// Built by the tests' CMake (GOPATH mode over Debian's Go packages; no network).
package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"hash"
	"io/ioutil"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
	"github.com/xdg-go/scram"
)

var (
	brokers    = flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	mode       = flag.String("mode", "everyday", "everyday | secure | oldfmt")
	protocol   = flag.String("protocol", "PLAINTEXT", "PLAINTEXT | SASL_PLAINTEXT | SASL_SSL | SSL")
	mechanism  = flag.String("mechanism", "", "PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512")
	user       = flag.String("user", "", "SASL user")
	password   = flag.String("password", "", "SASL password")
	caFile     = flag.String("ca", "", "PEM CA bundle that signs the broker's certificate")
	certFile   = flag.String("cert", "", "client certificate (PEM) for SSL client authentication")
	keyFile    = flag.String("key", "", "client key (PEM)")
	topic      = flag.String("topic", "sarama-everyday", "topic to use")
	expectFail = flag.Bool("expect-fail", false, "secure mode: the connection must be refused")
)

func fail(what string, err interface{}) {
	fmt.Printf("FAIL %s: %v\n", what, err)
	os.Exit(1)
}

func pass(format string, a ...interface{}) { fmt.Printf("PASS "+format+"\n", a...) }

// scramClient adapts xdg-go/scram to sarama's SCRAMClient interface.
type scramClient struct {
	hash func() hash.Hash
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, pass, authz string) error {
	client, err := scram.HashGeneratorFcn(c.hash).NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }

func config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.ClientID = "eddy-sarama-test"
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 2
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	if strings.HasPrefix(*protocol, "SASL_") {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(*mechanism)
		cfg.Net.SASL.User = *user
		cfg.Net.SASL.Password = *password
		switch *mechanism {
		case sarama.SASLTypeSCRAMSHA256:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
				return &scramClient{hash: sha256.New}
			}
		case sarama.SASLTypeSCRAMSHA512:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
				return &scramClient{hash: sha512.New}
			}
		}
	}
	if strings.HasSuffix(*protocol, "SSL") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := ioutil.ReadFile(*caFile)
			if err != nil {
				fail("read -ca", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				fail("read -ca", "no certificate in "+*caFile)
			}
			tc.RootCAs = pool
		}
		if *certFile != "" {
			pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				fail("read -cert/-key", err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	return cfg
}

func brokerList() []string { return strings.Split(*brokers, ",") }

// readPartition reads [from, from+n) of one partition with a partition consumer.
func readPartition(client sarama.Client, t string, p int32, from int64, n int) []*sarama.ConsumerMessage {
	c, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("consumer", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(t, p, from)
	if err != nil {
		fail(fmt.Sprintf("consume %s/%d from %d", t, p, from), err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case e := <-pc.Errors():
			fail(fmt.Sprintf("consume %s/%d", t, p), e)
		case <-deadline:
			fail(fmt.Sprintf("consume %s/%d", t, p), fmt.Sprintf("%d of %d records in 30 s", len(out), n))
		}
	}
	return out
}

type groupHandler struct {
	mu   sync.Mutex
	got  map[int32][]*sarama.ConsumerMessage
	want int
	done chan struct{}
	once sync.Once
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.got[m.Partition] = append(h.got[m.Partition], m)
		n := 0
		for _, ms := range h.got {
			n += len(ms)
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.want {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func header(m *sarama.ConsumerMessage, k string) string {
	for _, h := range m.Headers {
		if string(h.Key) == k {
			return string(h.Value)
		}
	}
	return ""
}

func everyday() {
	const parts, records = 3, 30
	cfg := config()
	admin, err := sarama.NewClusterAdmin(brokerList(), cfg)
	if err != nil {
		fail("cluster admin", err)
	}
	defer admin.Close()
	retention := "3600000"
	err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		fail("create topic", err)
	}
	if err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		fail("create an existing topic", fmt.Sprintf("want TOPIC_ALREADY_EXISTS, got %v", err))
	}
	pass("admin: create topic (%d partitions), a second create says it exists", parts)
	md, err := admin.DescribeTopics([]string{*topic})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != parts {
		fail("describe topic", fmt.Sprintf("%v %+v", err, md))
	}
	all, err := admin.ListTopics()
	if err != nil {
		fail("list topics", err)
	}
	if d, ok := all[*topic]; !ok || d.NumPartitions != parts {
		fail("list topics", fmt.Sprintf("%s missing or wrong: %+v", *topic, all[*topic]))
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: *topic,
		ConfigNames: []string{"retention.ms"}})
	if err != nil || len(entries) != 1 || entries[0].Value != retention {
		fail("describe config retention.ms", fmt.Sprintf("%v %+v", err, entries))
	}
	pass("admin: describe and list topics, describe config (retention.ms=%s)", retention)

	pcfg := config()
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Idempotent = true
	pcfg.Producer.Retry.Max = 5
	pcfg.Net.MaxOpenRequests = 1
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Partitioner = sarama.NewHashPartitioner
	prod, err := sarama.NewSyncProducer(brokerList(), pcfg)
	if err != nil {
		fail("idempotent producer", err)
	}
	want := map[string][]string{} // key -> values in order
	for i := 0; i < records; i++ {
		k := fmt.Sprintf("key-%d", i%5)
		v := fmt.Sprintf("value-%02d", i)
		_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: *topic, Key: sarama.StringEncoder(k),
			Value: sarama.StringEncoder(v), Headers: []sarama.RecordHeader{{Key: []byte("seq"), Value: []byte(v)}}})
		if err != nil {
			fail("produce", err)
		}
		want[k] = append(want[k], v)
	}
	prod.Close()
	pass("idempotent producer: %d keyed records with headers, acks=all", records)

	group := *topic + "-group"
	gcfg := config()
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup(brokerList(), group, gcfg)
	if err != nil {
		fail("consumer group", err)
	}
	h := &groupHandler{got: map[int32][]*sarama.ConsumerMessage{}, want: records, done: make(chan struct{})}
	stop := make(chan struct{})
	go func() {
		for {
			if err := cg.Consume(context.Background(), []string{*topic}, h); err != nil {
				fmt.Printf("group session ended: %v\n", err)
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		fail("consumer group", "did not read every record in 60 s")
	}
	close(stop)
	if err := cg.Close(); err != nil { // commits the marked offsets
		fail("consumer group close", err)
	}
	got := map[string][]string{}
	total := 0
	for p, ms := range h.got {
		for i, m := range ms {
			if i > 0 && m.Offset != ms[i-1].Offset+1 {
				fail("group read order", fmt.Sprintf("partition %d: offset %d after %d", p, m.Offset, ms[i-1].Offset))
			}
			if header(m, "seq") != string(m.Value) {
				fail("headers", fmt.Sprintf("record %s has header seq=%q", m.Value, header(m, "seq")))
			}
			got[string(m.Key)] = append(got[string(m.Key)], string(m.Value))
			total++
		}
	}
	if total != records {
		fail("consumer group", fmt.Sprintf("%d records read, want %d", total, records))
	}
	for k, vs := range want {
		if strings.Join(got[k], ",") != strings.Join(vs, ",") {
			fail("per-key order", fmt.Sprintf("key %s: got %v want %v", k, got[k], vs))
		}
	}
	pass("consumer group: every record once, per-key order kept, headers intact")

	offs, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{*topic: {0, 1, 2}})
	if err != nil {
		fail("list group offsets", err)
	}
	var committed int64
	for p := int32(0); p < parts; p++ {
		b := offs.GetBlock(*topic, p)
		if b == nil || b.Err != sarama.ErrNoError {
			fail("group offsets", fmt.Sprintf("partition %d: %+v", p, b))
		}
		if b.Offset != int64(len(h.got[p])) {
			fail("group offsets", fmt.Sprintf("partition %d committed %d, read %d", p, b.Offset, len(h.got[p])))
		}
		committed += b.Offset
	}
	groups, err := admin.ListConsumerGroups()
	if _, ok := groups[group]; err != nil || !ok {
		fail("list groups", fmt.Sprintf("%v %v", err, groups))
	}
	pass("admin: the group's committed offsets (%d in all) match what it read; the group is listed", committed)

	// a second session of the same group starts at the committed offsets: a new record only
	pcfg2 := config()
	pcfg2.Producer.Return.Successes = true
	prod2, err := sarama.NewSyncProducer(brokerList(), pcfg2)
	if err != nil {
		fail("producer", err)
	}
	if _, _, err = prod2.SendMessage(&sarama.ProducerMessage{Topic: *topic, Key: sarama.StringEncoder("late"),
		Value: sarama.StringEncoder("after-commit")}); err != nil {
		fail("produce", err)
	}
	cg2, err := sarama.NewConsumerGroup(brokerList(), group, gcfg)
	if err != nil {
		fail("consumer group again", err)
	}
	h2 := &groupHandler{got: map[int32][]*sarama.ConsumerMessage{}, want: 1, done: make(chan struct{})}
	go func() { _ = cg2.Consume(context.Background(), []string{*topic}, h2) }()
	select {
	case <-h2.done:
	case <-time.After(60 * time.Second):
		fail("second session", "the new record did not arrive in 60 s")
	}
	cg2.Close()
	for _, ms := range h2.got {
		for _, m := range ms {
			if string(m.Value) != "after-commit" {
				fail("second session", fmt.Sprintf("re-read %q: the commit was not honoured", m.Value))
			}
		}
	}
	pass("second session of the group resumes at the committed offsets")

	// each codec: produce to partition 0 of its own topic and read back exactly
	codecs := []struct {
		name string
		c    sarama.CompressionCodec
	}{{"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy},
		{"lz4", sarama.CompressionLZ4}}
	client, err := sarama.NewClient(brokerList(), config())
	if err != nil {
		fail("client", err)
	}
	defer client.Close()
	var names []string
	for _, c := range codecs {
		ccfg := config()
		ccfg.Producer.Compression = c.c
		ccfg.Producer.Return.Successes = true
		ccfg.Producer.Partitioner = sarama.NewManualPartitioner
		ccfg.Producer.Flush.Messages = 20
		ccfg.Producer.Flush.Frequency = 50 * time.Millisecond
		ap, err := sarama.NewAsyncProducer(brokerList(), ccfg)
		if err != nil {
			fail(c.name+" producer", err)
		}
		t := *topic + "-" + c.name
		const n = 200
		for i := 0; i < n; i++ {
			ap.Input() <- &sarama.ProducerMessage{Topic: t, Partition: 0,
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%04d-%s", c.name, i, strings.Repeat("x", 100)))}
		}
		for i := 0; i < n; i++ {
			select {
			case <-ap.Successes():
			case e := <-ap.Errors():
				fail(c.name+" produce", e.Err)
			case <-time.After(30 * time.Second):
				fail(c.name+" produce", "no acknowledgement in 30 s")
			}
		}
		ap.Close()
		ms := readPartition(client, t, 0, sarama.OffsetOldest, n)
		for i, m := range ms {
			w := fmt.Sprintf("%s-%04d-%s", c.name, i, strings.Repeat("x", 100))
			if string(m.Value) != w || m.Offset != int64(i) {
				fail(c.name+" read back", fmt.Sprintf("offset %d: %q", m.Offset, m.Value))
			}
		}
		names = append(names, c.name)
	}
	sort.Strings(names)
	pass("compression %s: 200 records each, read back exactly", strings.Join(names, ", "))

	// sarama 1.22 sends zstd in Produce v3; Kafka (KIP-110) takes zstd only from v7 and answers
	// UNSUPPORTED_COMPRESSION_TYPE, and so must eddyd (sarama 1.23 moved to v7)
	zcfg := config()
	zcfg.Producer.Compression = sarama.CompressionZSTD
	zcfg.Producer.Return.Successes = true
	zcfg.Producer.Retry.Max = 0
	zp, err := sarama.NewSyncProducer(brokerList(), zcfg)
	if err != nil {
		fail("zstd producer", err)
	}
	_, _, err = zp.SendMessage(&sarama.ProducerMessage{Topic: *topic + "-zstd", Value: sarama.StringEncoder("z")})
	zp.Close()
	if err != sarama.ErrUnsupportedCompressionType {
		fail("zstd in Produce v3", fmt.Sprintf("want UNSUPPORTED_COMPRESSION_TYPE as from Kafka, got %v", err))
	}
	pass("zstd in Produce v3 refused with UNSUPPORTED_COMPRESSION_TYPE, as Kafka does")
}

func secure() {
	cfg := config()
	if *expectFail {
		cfg.Metadata.Retry.Max = 0 // one attempt: one refusal in the broker's log
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(brokerList(), cfg)
	what := fmt.Sprintf("%s %s user %q", *protocol, *mechanism, *user)
	if *expectFail {
		if err == nil {
			// some failures only surface on the first request (after the handshake)
			_, err = client.Topics()
			client.Close()
		}
		if err == nil {
			fail(what, "connected although it should have been refused")
		}
		fmt.Printf("refused as expected: %v\n", err)
		pass("%s refused", what)
		return
	}
	if err != nil {
		fail(what+": connect", err)
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		fail(what+": producer", err)
	}
	tag := fmt.Sprintf("%s-%s-%d", *protocol, *mechanism, time.Now().UnixNano())
	var first int64 = -1
	for i := 0; i < 3; i++ {
		_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: *topic, Partition: 0,
			Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", tag, i))})
		if err != nil {
			fail(what+": produce", err)
		}
		if first < 0 {
			first = off
		}
	}
	prod.Close()
	ms := readPartition(client, *topic, 0, first, 3)
	for i, m := range ms {
		if string(m.Value) != fmt.Sprintf("%s-%d", tag, i) {
			fail(what+": read back", fmt.Sprintf("got %q", m.Value))
		}
	}
	pass("%s: produce 3 and read them back", what)
}

// oldfmt: sarama with its default Version (1.22.1: V0_8_2_0, so Produce v0, Fetch v0 and magic 0
// message sets) and with V0_10_0_0 (Produce v2, Fetch v2, magic 1 with timestamps): a keyed
// record, a null key and a null value, uncompressed and with each codec that version allows,
// read back exactly with a partition consumer of the same version.
func oldfmt() {
	type oldCase struct {
		name   string
		v      sarama.KafkaVersion
		codecs []sarama.CompressionCodec
	}
	all := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy}
	for _, c := range []oldCase{
		{"default", sarama.NewConfig().Version, all},
		{"v0_10_0", sarama.V0_10_0_0, append(all, sarama.CompressionLZ4)},
	} {
		for _, codec := range c.codecs {
			what := fmt.Sprintf("version %s (%s), codec %d", c.name, c.v, codec)
			cfg := sarama.NewConfig()
			cfg.Version = c.v
			cfg.ClientID = "eddy-sarama-oldfmt"
			cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Compression = codec
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Consumer.Return.Errors = true
			client, err := sarama.NewClient(strings.Split(*brokers, ","), cfg)
			if err != nil {
				fail(what+": client", err)
			}
			t := fmt.Sprintf("%s-%s-%d", *topic, c.name, codec)
			prod, err := sarama.NewSyncProducerFromClient(client)
			if err != nil {
				fail(what+": producer", err)
			}
			msgs := []*sarama.ProducerMessage{
				{Topic: t, Key: sarama.StringEncoder("k1"), Value: sarama.StringEncoder("v1")},
				{Topic: t, Value: sarama.StringEncoder("no key")},
				{Topic: t, Key: sarama.StringEncoder("k3")},
			}
			if err := prod.SendMessages(msgs); err != nil {
				fail(what+": produce", err)
			}
			prod.Close()
			ms := readPartition(client, t, 0, sarama.OffsetOldest, 3)
			got := ""
			for _, m := range ms {
				got += fmt.Sprintf("%d:%q/%v:%q/%v ", m.Offset, m.Key, m.Key == nil, m.Value,
					m.Value == nil)
				if c.v.IsAtLeast(sarama.V0_10_0_0) && m.Timestamp.Year() < 2020 {
					fail(what+": timestamp", m.Timestamp)
				}
			}
			want := `0:"k1"/false:"v1"/false 1:""/true:"no key"/false 2:"k3"/false:""/true `
			if got != want {
				fail(what+": read back", fmt.Sprintf("got %s, want %s", got, want))
			}
			client.Close()
			pass("%s: 3 records (null key, null value) produced and read back", what)
		}
	}
}

func main() {
	flag.Parse()
	switch *mode {
	case "everyday":
		everyday()
	case "secure":
		secure()
	case "oldfmt":
		oldfmt()
	default:
		fail("usage", "-mode everyday|secure|oldfmt")
	}
}
