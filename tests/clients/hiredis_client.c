/* hiredis (Debian's libhiredis-dev) against count-server's RESP port, as a C program uses it.
 * Run by tests/e2e/redis_clients_e2e_test.cpp against a server it started on 127.0.0.1; exits 1
 * with a message on stderr at the first mismatch. Every call waits 10 s at most.
 * TLS needs hiredis_ssl (hiredis 1.0 or later), which Debian 12's hiredis 0.14 does not have:
 * built with it only when CMake finds it (COUNT_HIREDIS_SSL).
 *
 * usage: hiredis_client basic|pipeline|password|tls PORT [PASSWORD] [CA.pem]
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#ifdef COUNT_HIREDIS_SSL
#include <hiredis/hiredis_ssl.h>
#endif

static const struct timeval kTimeout = {10, 0};
enum { kPipelined = 1000 }; /* requests written before the first reply is read */

static void fail(const char* format, ...) {
  va_list args;
  va_start(args, format);
  fputs("hiredis_client: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

static redisContext* connect_to(int port) {
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port, kTimeout);
  if (context == NULL) fail("cannot allocate a context");
  if (context->err) fail("connect to 127.0.0.1:%d: %s", port, context->errstr);
  if (redisSetTimeout(context, kTimeout) != REDIS_OK) fail("redisSetTimeout: %s", context->errstr);
  return context;
}

/* The reply of one command; never NULL (a broken connection fails the run). */
static redisReply* command(redisContext* context, const char* format, ...) {
  va_list args;
  va_start(args, format);
  redisReply* reply = redisvCommand(context, format, args);
  va_end(args);
  if (reply == NULL) fail("'%s': no reply: %s", format, context->errstr);
  return reply;
}

static void expect_integer(redisReply* reply, long long want, const char* what) {
  if (reply->type != REDIS_REPLY_INTEGER || reply->integer != want) {
    fail("%s: want integer %lld, got type %d (%lld, '%s')", what, want, reply->type,
         reply->integer, reply->str ? reply->str : "");
  }
  freeReplyObject(reply);
}

static void expect_string(redisReply* reply, int type, const char* want, const char* what) {
  if (reply->type != type || reply->str == NULL || strcmp(reply->str, want) != 0) {
    fail("%s: want type %d '%s', got type %d '%s'", what, type, want, reply->type,
         reply->str ? reply->str : "");
  }
  freeReplyObject(reply);
}

/* An error reply that starts with `prefix`. */
static void expect_error(redisReply* reply, const char* prefix, const char* what) {
  if (reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, prefix, strlen(prefix)) != 0) {
    fail("%s: want an error starting '%s', got type %d '%s'", what, prefix, reply->type,
         reply->str ? reply->str : "");
  }
  freeReplyObject(reply);
}

/* INCR, INCRBY, DECR, DECRBY, GET on a counter that holds 0. */
static void round_trip(redisContext* context) {
  expect_string(command(context, "PING"), REDIS_REPLY_STATUS, "PONG", "PING");
  expect_string(command(context, "GET count"), REDIS_REPLY_STRING, "0", "GET");
  expect_integer(command(context, "INCR count"), 1, "INCR");
  expect_integer(command(context, "INCRBY count %s", "41"), 42, "INCRBY 41");
  expect_integer(command(context, "DECR count"), 41, "DECR");
  expect_integer(command(context, "DECRBY count 1"), 40, "DECRBY 1");
  expect_string(command(context, "GET %s", "count"), REDIS_REPLY_STRING, "40", "GET");
}

static void mode_basic(int port) {
  redisContext* context = connect_to(port);
  round_trip(context);
  expect_error(command(context, "INCR other"), "ERR no such key 'other'", "INCR other");
  expect_error(command(context, "INCRBY count 1.5"), "ERR value is not an integer", "INCRBY 1.5");
  expect_error(command(context, "INCRBY count %s", "9223372036854775807"),
               "ERR increment or decrement would overflow", "INCRBY past the top");
  expect_string(command(context, "GET count"), REDIS_REPLY_STRING, "40", "GET after errors");
  redisFree(context);
}

static void mode_pipeline(int port) {
  redisContext* context = connect_to(port);
  for (int i = 0; i < kPipelined; ++i) {
    if (redisAppendCommand(context, "INCR count") != REDIS_OK) fail("redisAppendCommand");
  }
  if (redisAppendCommand(context, "GET count") != REDIS_OK) fail("redisAppendCommand");
  for (int i = 0; i < kPipelined; ++i) {
    void* reply = NULL;
    if (redisGetReply(context, &reply) != REDIS_OK) fail("reply %d: %s", i, context->errstr);
    expect_integer(reply, i + 1, "pipelined INCR");
  }
  void* reply = NULL;
  if (redisGetReply(context, &reply) != REDIS_OK) fail("GET: %s", context->errstr);
  expect_string(reply, REDIS_REPLY_STRING, "1000", "GET after the pipeline");

  /* MULTI/EXEC: the queued replies, then EXEC's array of results. */
  expect_string(command(context, "MULTI"), REDIS_REPLY_STATUS, "OK", "MULTI");
  expect_string(command(context, "INCR count"), REDIS_REPLY_STATUS, "QUEUED", "queued INCR");
  expect_string(command(context, "INCRBY count 9"), REDIS_REPLY_STATUS, "QUEUED", "queued INCRBY");
  redisReply* exec = command(context, "EXEC");
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2 ||
      exec->element[0]->type != REDIS_REPLY_INTEGER || exec->element[0]->integer != 1001 ||
      exec->element[1]->type != REDIS_REPLY_INTEGER || exec->element[1]->integer != 1010) {
    fail("EXEC: want [1001, 1010], got type %d with %zu elements", exec->type, exec->elements);
  }
  freeReplyObject(exec);
  redisFree(context);
}

static void mode_password(int port, const char* password) {
  redisContext* context = connect_to(port);
  expect_error(command(context, "INCR count"), "NOAUTH", "INCR before AUTH");
  expect_error(command(context, "AUTH %s", "wrong"), "WRONGPASS", "AUTH wrong");
  expect_string(command(context, "AUTH %s", password), REDIS_REPLY_STATUS, "OK", "AUTH");
  round_trip(context);
  redisFree(context);
}

static void mode_tls(int port, const char* password, const char* ca) {
#ifdef COUNT_HIREDIS_SSL
  redisInitOpenSSL();
  redisSSLContextError ssl_error = REDIS_SSL_CTX_NONE;
  redisSSLContext* ssl = redisCreateSSLContext(ca, NULL, NULL, NULL, "127.0.0.1", &ssl_error);
  if (ssl == NULL) fail("redisCreateSSLContext: %s", redisSSLContextGetError(ssl_error));
  redisContext* context = connect_to(port);
  if (redisInitiateSSLWithContext(context, ssl) != REDIS_OK) {
    fail("TLS handshake: %s", context->errstr);
  }
  if (password != NULL) {
    expect_string(command(context, "AUTH %s", password), REDIS_REPLY_STATUS, "OK", "AUTH");
  }
  round_trip(context);
  redisFree(context);
  redisFreeSSLContext(ssl);
#else
  (void)port, (void)password, (void)ca;
  fail("built without hiredis_ssl");
#endif
}

int main(int argc, char** argv) {
  if (argc < 3) fail("usage: hiredis_client basic|pipeline|password|tls PORT [PASSWORD] [CA]");
  const char* mode = argv[1];
  const int port = atoi(argv[2]);
  if (strcmp(mode, "basic") == 0) {
    mode_basic(port);
  } else if (strcmp(mode, "pipeline") == 0) {
    mode_pipeline(port);
  } else if (strcmp(mode, "password") == 0 && argc >= 4) {
    mode_password(port, argv[3]);
  } else if (strcmp(mode, "tls") == 0 && argc >= 5) {
    mode_tls(port, strcmp(argv[3], "-") == 0 ? NULL : argv[3], argv[4]);
  } else {
    fail("unknown mode '%s' or missing arguments", mode);
  }
  printf("%s: ok\n", mode);
  return 0;
}
