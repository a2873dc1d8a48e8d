/*
 * udp_batch: UDP sockets read with recvmmsg(2) and written with sendmmsg(2), for @hoplite/dns.
 *
 * Node's dgram costs about 1 us of CPU in user space per datagram (a 64 KiB receive allocation, an
 * rinfo object built with inet_ntop, a JS callback per datagram, a SendWrap per send), more than
 * the whole per-query budget of a fan-out to three masters. Here a readable socket is drained with
 * recvmmsg into one receive arena shared by every socket of the thread, and JavaScript is called
 * once per batch with the count; the metadata of each datagram (length, source address and port,
 * truncation) is in an Int32Array beside it. Sends are packed by JavaScript into a send arena and
 * handed to the kernel with one sendmmsg per socket per batch.
 *
 * Everything runs on the thread that owns the JS environment (libuv poll handles on that loop);
 * the arenas belong to the environment (instance data), so worker threads each have their own.
 *
 * Metadata layout, META int32 per datagram:
 *   receive: [0] length  [1] source port  [2] family (4|6)  [3] IPv6 scope id  [4] flags (1: truncated)
 *            [5..8] source address bytes (4 or 16, in network order, as stored in memory)
 *   send:    [0] offset in the send arena  [1] length  [2] port  [3] family (0: connected socket,
 *            no address)  [4] IPv6 scope id  [5..8] address bytes
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define META 10
#define MAX_ROUNDS 8

typedef struct {
  uint8_t *rdata;
  size_t rslot;
  uint32_t rslots;
  int32_t *rmeta;
  uint8_t *sdata;
  size_t scap;
  uint32_t smax;
  int32_t *smeta;
  napi_ref refs[4];
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  struct sockaddr_storage *raddr;
  struct mmsghdr *smsgs;
  struct iovec *siov;
  struct sockaddr_storage *saddr;
} arena_t;

typedef struct {
  uv_poll_t poll;
  int fd;
  int family;
  int closed;        /* close() called: no more callbacks */
  int handle_closed; /* uv_close completed */
  int finalized;     /* the JS external was collected */
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  arena_t *arena;
} sock_t;

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "ERR_UDP_BATCH", "napi call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  const char *name = uv_err_name(-err);
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s (%s)", syscall, name, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

static void free_arena(napi_env env, void *data, void *hint) {
  (void)hint;
  arena_t *a = data;
  for (int i = 0; i < 4; i++)
    if (a->refs[i] != NULL) napi_delete_reference(env, a->refs[i]);
  free(a->rmsgs);
  free(a->riov);
  free(a->raddr);
  free(a->smsgs);
  free(a->siov);
  free(a->saddr);
  free(a);
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return -1;
  size_t width = (type == napi_int32_array || type == napi_uint32_array) ? 4 : 1;
  *len = length * width;
  return 0;
}

/* init(recvData: Buffer, slotSize, recvMeta: Int32Array, sendData: Buffer, sendMeta: Int32Array) */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "init(recvData, slotSize, recvMeta, sendData, sendMeta)");
    return NULL;
  }
  arena_t *old;
  if (napi_get_instance_data(env, (void **)&old) == napi_ok && old != NULL) {
    napi_throw_error(env, "ERR_UDP_BATCH", "already initialised");
    return NULL;
  }
  arena_t *a = calloc(1, sizeof *a);
  if (a == NULL) return throw_errno(env, ENOMEM, "init");
  void *p;
  size_t len, mlen;
  uint32_t slot;
  if (get_bytes(env, argv[0], &p, &len) != 0 || napi_get_value_uint32(env, argv[1], &slot) != napi_ok || slot == 0) goto bad;
  a->rdata = p;
  a->rslot = slot;
  a->rslots = (uint32_t)(len / slot);
  if (get_bytes(env, argv[2], &p, &mlen) != 0 || mlen / (4 * META) < a->rslots || a->rslots == 0) goto bad;
  a->rmeta = p;
  if (get_bytes(env, argv[3], &p, &len) != 0) goto bad;
  a->sdata = p;
  a->scap = len;
  if (get_bytes(env, argv[4], &p, &mlen) != 0 || mlen / (4 * META) == 0) goto bad;
  a->smeta = p;
  a->smax = (uint32_t)(mlen / (4 * META));
  for (int i = 0; i < 4; i++) napi_create_reference(env, argv[i == 0 ? 0 : i + 1], 1, &a->refs[i]);
  a->rmsgs = calloc(a->rslots, sizeof *a->rmsgs);
  a->riov = calloc(a->rslots, sizeof *a->riov);
  a->raddr = calloc(a->rslots, sizeof *a->raddr);
  a->smsgs = calloc(a->smax, sizeof *a->smsgs);
  a->siov = calloc(a->smax, sizeof *a->siov);
  a->saddr = calloc(a->smax, sizeof *a->saddr);
  if (!a->rmsgs || !a->riov || !a->raddr || !a->smsgs || !a->siov || !a->saddr) {
    free_arena(env, a, NULL);
    return throw_errno(env, ENOMEM, "init");
  }
  for (uint32_t i = 0; i < a->rslots; i++) {
    a->riov[i].iov_base = a->rdata + (size_t)i * a->rslot;
    a->riov[i].iov_len = a->rslot;
  }
  CHECK(napi_set_instance_data(env, a, free_arena, NULL));
  napi_value out;
  CHECK(napi_create_uint32(env, a->rslots, &out));
  return out;
bad:
  free(a);
  napi_throw_type_error(env, "ERR_INVALID_ARG", "init: bad arenas");
  return NULL;
}

static int to_sockaddr(int family, const char *text, uint32_t port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &s4->sin_addr) != 1) return -1;
    *len = sizeof *s4;
    return 0;
  }
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons((uint16_t)port);
  if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1) return -1;
  *len = sizeof *s6;
  return 0;
}

static void release_js(sock_t *s) {
  if (s->cb != NULL) {
    napi_delete_reference(s->env, s->cb);
    s->cb = NULL;
  }
  if (s->actx != NULL) {
    napi_async_destroy(s->env, s->actx);
    s->actx = NULL;
  }
}

static void on_close(uv_handle_t *h) {
  sock_t *s = h->data;
  s->handle_closed = 1;
  /* Released here, not in close(): close() may run inside this socket's own callback. */
  if (!s->finalized) release_js(s);
  if (s->finalized) free(s);
}

static void sock_close(sock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t *)&s->poll, on_close);
}

static void finalize_sock(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  s->finalized = 1;
  release_js(s);
  if (!s->closed) sock_close(s);
  else if (s->handle_closed) free(s);
}

static void report(sock_t *s, napi_value cb, napi_value recv, int value) {
  napi_env env = s->env;
  napi_value arg, result;
  napi_create_int32(env, value, &arg);
  if (napi_make_callback(env, s->actx, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  sock_t *s = h->data;
  if (s->closed) return;
  napi_env env = s->env;
  arena_t *a = s->arena;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, s->cb, &cb);
  napi_get_global(env, &recv);
  if (status < 0) {
    /* libuv turns EPOLLERR into UV_EBADF and stops the handle. On a UDP socket EPOLLERR is a
     * pending socket error, e.g. ECONNREFUSED after an ICMP port unreachable on a connected
     * socket: take it (SO_ERROR clears it; a send may have taken it already), report it as what
     * it is, poll again and read on, as dgram does. */
    int err = 0;
    socklen_t elen = sizeof err;
    if (status != UV_EBADF || getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
      report(s, cb, recv, status);
      napi_close_handle_scope(env, scope);
      return;
    }
    if (err != 0) report(s, cb, recv, uv_translate_sys_error(err));
    int rc = s->closed ? 0 : uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (s->closed || rc != 0) {
      if (rc != 0) report(s, cb, recv, rc);
      napi_close_handle_scope(env, scope);
      return;
    }
  }
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    for (uint32_t i = 0; i < a->rslots; i++) {
      struct msghdr *m = &a->rmsgs[i].msg_hdr;
      m->msg_name = &a->raddr[i];
      m->msg_namelen = sizeof a->raddr[i];
      m->msg_iov = &a->riov[i];
      m->msg_iovlen = 1;
      m->msg_control = NULL;
      m->msg_controllen = 0;
      m->msg_flags = 0;
    }
    int n = recvmmsg(s->fd, a->rmsgs, a->rslots, MSG_DONTWAIT, NULL);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      /* e.g. ECONNREFUSED from an ICMP error on a connected socket: reported, then read on. */
      report(s, cb, recv, uv_translate_sys_error(err));
      if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH) continue;
      break;
    }
    if (n == 0) break;
    for (int i = 0; i < n; i++) {
      int32_t *meta = a->rmeta + (size_t)i * META;
      struct msghdr *m = &a->rmsgs[i].msg_hdr;
      uint32_t len = a->rmsgs[i].msg_len;
      meta[0] = (int32_t)(len > a->rslot ? a->rslot : len);
      meta[4] = (m->msg_flags & MSG_TRUNC) ? 1 : 0;
      struct sockaddr_storage *ss = &a->raddr[i];
      if (ss->ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        meta[1] = ntohs(s4->sin_port);
        meta[2] = 4;
        meta[3] = 0;
        memcpy(&meta[5], &s4->sin_addr, 4);
      } else if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        meta[1] = ntohs(s6->sin6_port);
        meta[2] = 6;
        meta[3] = (int32_t)s6->sin6_scope_id;
        memcpy(&meta[5], &s6->sin6_addr, 16);
      } else {
        meta[1] = 0;
        meta[2] = 0;
        meta[3] = 0;
      }
    }
    report(s, cb, recv, n);
    if ((uint32_t)n < a->rslots) break;
  }
  napi_close_handle_scope(env, scope);
}

/* open(family 4|6, bindAddress|null, bindPort, connectAddress|null, connectPort, rcvbuf, sndbuf, onRecv) */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  arena_t *a;
  if (napi_get_instance_data(env, (void **)&a) != napi_ok || a == NULL) {
    napi_throw_error(env, "ERR_UDP_BATCH", "init() first");
    return NULL;
  }
  if (argc < 8) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "open(family, bindAddress, bindPort, connectAddress, connectPort, rcvbuf, sndbuf, onRecv)");
    return NULL;
  }
  uint32_t family, bport, cport, rcvbuf, sndbuf;
  char baddr[64] = "", caddr[64] = "";
  size_t n;
  napi_valuetype t;
  CHECK(napi_get_value_uint32(env, argv[0], &family));
  napi_typeof(env, argv[1], &t);
  if (t == napi_string) CHECK(napi_get_value_string_utf8(env, argv[1], baddr, sizeof baddr, &n));
  CHECK(napi_get_value_uint32(env, argv[2], &bport));
  napi_typeof(env, argv[3], &t);
  if (t == napi_string) CHECK(napi_get_value_string_utf8(env, argv[3], caddr, sizeof caddr, &n));
  CHECK(napi_get_value_uint32(env, argv[4], &cport));
  CHECK(napi_get_value_uint32(env, argv[5], &rcvbuf));
  CHECK(napi_get_value_uint32(env, argv[6], &sndbuf));
  napi_typeof(env, argv[7], &t);
  if ((family != 4 && family != 6) || bport > 65535 || cport > 65535 || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "open: bad arguments");
    return NULL;
  }
  struct sockaddr_storage bss, css;
  socklen_t blen = 0, clen = 0;
  if (baddr[0] != '\0' && to_sockaddr((int)family, baddr, bport, &bss, &blen) != 0) return throw_errno(env, EINVAL, "bind");
  if (caddr[0] != '\0' && to_sockaddr((int)family, caddr, cport, &css, &clen) != 0) return throw_errno(env, EINVAL, "connect");

  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1;
  if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (blen > 0 && bind(fd, (struct sockaddr *)&bss, blen) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  /* connect() on an unbound socket binds it to a kernel-chosen port in the same step: no datagram
   * from anyone else can be queued on it first. */
  if (clen > 0 && connect(fd, (struct sockaddr *)&css, clen) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "connect");
  }
  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "open");
  }
  s->fd = fd;
  s->family = (int)family;
  s->env = env;
  s->arena = a;
  s->poll.data = s;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init_socket(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    return throw_errno(env, EINVAL, "uv_poll_init");
  }
  napi_value resource, name, ext;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "HOPLITE_UDP_BATCH", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &s->actx);
  napi_create_reference(env, argv[7], 1, &s->cb);
  int rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    release_js(s);
    s->finalized = 1;
    sock_close(s);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  if (napi_create_external(env, s, finalize_sock, NULL, &ext) != napi_ok) {
    release_js(s);
    s->finalized = 1;
    sock_close(s);
    napi_throw_error(env, "ERR_UDP_BATCH", "napi_create_external failed");
    return NULL;
  }
  return ext;
}

/* The arguments of a call whose first one is a socket handle: `n` of them into argv (missing ones
 * undefined), and the socket; NULL (with a JS exception pending) when argv[0] is not a handle. */
static sock_t *sock_args(napi_env env, napi_callback_info info, napi_value *argv, size_t n) {
  size_t argc = n;
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "not a socket handle");
    return NULL;
  }
  return p;
}

/* send(handle, count) -> number of datagrams the kernel refused (their errno in sendMeta[0]... of
 * the arena's first slot: see below). Each datagram is tried once; an error on one (e.g. a pending
 * ICMP error, EMSGSIZE) skips that one; EAGAIN (socket buffer full) drops the rest. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t *s = sock_args(env, info, argv, 2);
  if (s == NULL) return NULL;
  uint32_t count;
  CHECK(napi_get_value_uint32(env, argv[1], &count));
  arena_t *a = s->arena;
  if (s->closed) return throw_errno(env, EBADF, "send");
  if (count > a->smax) count = a->smax;
  for (uint32_t i = 0; i < count; i++) {
    int32_t *meta = a->smeta + (size_t)i * META;
    struct msghdr *m = &a->smsgs[i].msg_hdr;
    size_t off = (uint32_t)meta[0], len = (uint32_t)meta[1];
    if (off > a->scap || len > a->scap - off) len = 0, off = 0;
    a->siov[i].iov_base = a->sdata + off;
    a->siov[i].iov_len = len;
    m->msg_iov = &a->siov[i];
    m->msg_iovlen = 1;
    m->msg_control = NULL;
    m->msg_controllen = 0;
    m->msg_flags = 0;
    struct sockaddr_storage *ss = &a->saddr[i];
    if (meta[3] == 4) {
      struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
      memset(s4, 0, sizeof *s4);
      s4->sin_family = AF_INET;
      s4->sin_port = htons((uint16_t)meta[2]);
      memcpy(&s4->sin_addr, &meta[5], 4);
      m->msg_name = s4;
      m->msg_namelen = sizeof *s4;
    } else if (meta[3] == 6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
      memset(s6, 0, sizeof *s6);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons((uint16_t)meta[2]);
      s6->sin6_scope_id = (uint32_t)meta[4];
      memcpy(&s6->sin6_addr, &meta[5], 16);
      m->msg_name = s6;
      m->msg_namelen = sizeof *s6;
    } else {
      m->msg_name = NULL;
      m->msg_namelen = 0;
    }
  }
  uint32_t done = 0, failed = 0;
  int last = 0, retried = 0;
  while (done < count) {
    int r = sendmmsg(s->fd, a->smsgs + done, count - done, MSG_DONTWAIT);
    if (r > 0) {
      done += (uint32_t)r;
      retried = 0;
      continue;
    }
    int err = r == 0 ? EIO : errno;
    if (err == EINTR) continue;
    /* A pending error from an earlier ICMP message is reported by the next send, which then did
     * not go out: try that datagram once more. */
    if ((err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH) && !retried) {
      retried = 1;
      continue;
    }
    retried = 0;
    last = err;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      failed += count - done;
      break;
    }
    failed++;
    done++;
  }
  /* The last error, for the caller's counters (sendMeta[0] is free again once sent). */
  a->smeta[0] = last == 0 ? 0 : uv_translate_sys_error(last);
  napi_value out;
  CHECK(napi_create_uint32(env, failed, &out));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = sock_args(env, info, argv, 1);
  if (s == NULL) return NULL;
  sock_close(s);
  return NULL;
}

static napi_value js_local_port(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = sock_args(env, info, argv, 1);
  if (s == NULL) return NULL;
  if (s->closed) return throw_errno(env, EBADF, "getsockname");
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0) return throw_errno(env, errno, "getsockname");
  uint32_t port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  napi_value out;
  CHECK(napi_create_uint32(env, port, &out));
  return out;
}

static napi_value js_err_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &code));
  napi_value out;
  CHECK(napi_create_string_utf8(env, uv_err_name(code), NAPI_AUTO_LENGTH, &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_default, NULL},
    {"errName", NULL, js_err_name, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value meta;
  napi_create_uint32(env, META, &meta);
  napi_set_named_property(env, exports, "META", meta);
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
