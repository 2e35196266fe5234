// The Java client's own server harness (io.nats:jnats-server-runner, NatsServerRunner) starting a
// server binary it is pointed at, then the Java client (io.nats:jnats) using it: core request/reply,
// JetStream publish with PubAcks, a pull consumer, and a KV bucket. Run against jetbroker and
// nats-server by tests/integration/test_harness_swap.py, which compares the two transcripts.
//
//   java -cp jnats.jar:jnats-server-runner.jar tests/harness/java/HarnessSwap.java <server binary>
//
// Prints one line per step; lines starting with "info " carry values that legitimately differ.
import io.nats.NatsServerRunner;
import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.JetStream;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamSubscription;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.Message;
import io.nats.client.Nats;
import io.nats.client.PullSubscribeOptions;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.PublishAck;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;

public class HarnessSwap {
  static String str(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

  public static void main(String[] args) throws Exception {
    NatsServerRunner.setDefaultOutputLevel(Level.SEVERE);
    try (NatsServerRunner runner = NatsServerRunner.builder().executablePath(args[0]).jetstream(true).build()) {
      System.out.println("info cmdline " + runner.getCmdLine());
      try (Connection nc = Nats.connect(runner.getURI())) {
        System.out.println("info server " + nc.getServerInfo().getVersion());
        System.out.println("jetstream " + nc.getServerInfo().isJetStreamAvailable());

        Dispatcher d = nc.createDispatcher(m -> nc.publish(m.getReplyTo(), ("echo:" + str(m.getData())).getBytes()));
        d.subscribe("svc.echo");
        nc.flush(Duration.ofSeconds(2));
        Message r = nc.request("svc.echo", "hi".getBytes(), Duration.ofSeconds(2));
        System.out.println("request " + str(r.getData()));

        JetStreamManagement jsm = nc.jetStreamManagement();
        StreamInfo si = jsm.addStream(StreamConfiguration.builder().name("HARNESS").subjects("h.>")
            .storageType(StorageType.File).build());
        System.out.println("stream " + si.getConfiguration().getName() + " " + si.getConfiguration().getSubjects());
        JetStream js = nc.jetStream();
        for (int i = 1; i <= 5; i++) {
          PublishAck pa = js.publish("h." + i, ("m" + i).getBytes());
          System.out.println("puback " + pa.getStream() + " " + pa.getSeqno() + " " + pa.isDuplicate());
        }
        JetStreamSubscription sub = js.subscribe("h.>", PullSubscribeOptions.builder().durable("worker").build());
        List<Message> got = sub.fetch(5, Duration.ofSeconds(3));
        StringBuilder sb = new StringBuilder("fetched");
        for (Message m : got) {
          sb.append(' ').append(m.getSubject()).append('=').append(str(m.getData()))
              .append('@').append(m.metaData().streamSequence());
          m.ackSync(Duration.ofSeconds(2));
        }
        System.out.println(sb);
        System.out.println("consumer ack floor " + jsm.getConsumerInfo("HARNESS", "worker").getAckFloor().getStreamSequence());

        KeyValueManagement kvm = nc.keyValueManagement();
        kvm.create(KeyValueConfiguration.builder().name("HB").maxHistoryPerKey(3).storageType(StorageType.File).build());
        KeyValue kv = nc.keyValue("HB");
        long r1 = kv.put("k", "v1".getBytes());
        long r2 = kv.put("k", "v2".getBytes());
        KeyValueEntry e = kv.get("k");
        System.out.println("kv revisions " + r1 + " " + r2 + " value " + str(e.getValue()) + " history "
            + kv.history("k").size());
        try {
          kv.update("k", "v3".getBytes(), r1);
          System.out.println("kv stale update accepted");
        } catch (Exception ex) {
          System.out.println("kv stale update refused " + ex.getClass().getSimpleName());
        }
      }
    }
    System.out.println("done");
  }
}
