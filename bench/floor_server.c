// The smallest program that passes bench/probe.py's start-up probe: listens on -p PORT, sends an
// INFO line and answers every PING with PONG. resources_bench.sh times it the same way as the two
// servers, so the start-up table shows how much of "exec to first PONG" is the harness itself
// (fork and exec from Python, the connect retry step) and not the server.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int port = 4222;
  for (int i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], "-p") == 0) port = atoi(argv[i + 1]);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (s < 0) return 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 128) != 0) return 1;
  static const char info[] = "INFO {\"server_id\":\"floor\",\"version\":\"0.0.0\",\"proto\":1,\"max_payload\":1048576}\r\n";
  for (;;) {
    int c = accept(s, 0, 0);
    if (c < 0) continue;
    if (write(c, info, sizeof info - 1) < 0) {
      close(c);
      continue;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
      if (memmem(buf, (size_t)n, "PING", 4) && write(c, "PONG\r\n", 6) < 0) break;
    close(c);
  }
}
