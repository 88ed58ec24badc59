// The few Linux file calls Node lacks: mknod (overlay whiteouts are char 0:0 devices),
// extended attributes (overlay opaque dirs, security.capability in layers), mount, and a relay to a
// SOCK_SEQPACKET unix socket (conmon's attach socket; Node's net speaks only SOCK_STREAM).
#include <node_api.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#define PATH_BUF 4096

static napi_value throw_errno(napi_env env, const char *syscall, const char *path) {
  int err = errno;
  char msg[PATH_BUF + 128];
  snprintf(msg, sizeof msg, "%s: %s '%s'", syscall, strerror(err), path);
  napi_value code, message, error;
  napi_create_string_utf8(env, err == ENOENT ? "ENOENT" : err == ENODATA ? "ENODATA" : err == EEXIST ? "EEXIST" : err == EPERM ? "EPERM" : err == ENOTSUP ? "ENOTSUP" : err == EBUSY ? "EBUSY" : err == EINVAL ? "EINVAL" : err == ENOTDIR ? "ENOTDIR" : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
  return NULL;
}

static int get_string(napi_env env, napi_value value, char *buf, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, value, buf, size, &len) != napi_ok || len >= size - 1) {
    napi_throw_type_error(env, NULL, "expected a string argument");
    return -1;
  }
  return 0;
}

// mknod(path, mode, major, minor)
static napi_value Mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 4 || get_string(env, argv[0], path, sizeof path)) return NULL;
  uint32_t mode, major, minor;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major);
  napi_get_value_uint32(env, argv[3], &minor);
  if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) return throw_errno(env, "mknod", path);
  return NULL;
}

// lsetxattr(path, name, value: Buffer)
static napi_value Lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[256];
  if (argc < 3 || get_string(env, argv[0], path, sizeof path) || get_string(env, argv[1], name, sizeof name)) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, "lsetxattr", path);
  return NULL;
}

// lgetxattr(path, name) -> Buffer | null when the attribute is absent
static napi_value Lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[256];
  if (argc < 2 || get_string(env, argv[0], path, sizeof path) || get_string(env, argv[1], name, sizeof name)) return NULL;
  char value[65536];
  ssize_t len = lgetxattr(path, name, value, sizeof value);
  if (len < 0) {
    if (errno == ENODATA || errno == ENOTSUP) {
      napi_get_null(env, &result);
      return result;
    }
    return throw_errno(env, "lgetxattr", path);
  }
  napi_create_buffer_copy(env, (size_t)len, value, NULL, &result);
  return result;
}

// llistxattr(path) -> string[]
static napi_value Llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || get_string(env, argv[0], path, sizeof path)) return NULL;
  char names[65536];
  ssize_t len = llistxattr(path, names, sizeof names);
  napi_create_array(env, &result);
  if (len < 0) {
    if (errno == ENOTSUP) return result;
    return throw_errno(env, "llistxattr", path);
  }
  uint32_t index = 0;
  for (ssize_t offset = 0; offset < len; offset += (ssize_t)strlen(names + offset) + 1) {
    napi_value name;
    napi_create_string_utf8(env, names + offset, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, result, index++, name);
  }
  return result;
}

// mount(source, target, fstype, flags, data): overlay mounts with short relative lowerdirs need the caller's cwd,
// which a spawned mount(8) would not share as cheaply.
static napi_value Mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char source[PATH_BUF], target[PATH_BUF], fstype[64];
  static char data[65536];
  if (argc < 5 || get_string(env, argv[0], source, sizeof source) || get_string(env, argv[1], target, sizeof target) ||
      get_string(env, argv[2], fstype, sizeof fstype) || get_string(env, argv[4], data, sizeof data)) return NULL;
  uint32_t flags;
  napi_get_value_uint32(env, argv[3], &flags);
  if (mount(source, target, fstype[0] ? fstype : NULL, flags, data[0] ? data : NULL) != 0) return throw_errno(env, "mount", target);
  return NULL;
}

// umount2(target, flags)
static napi_value Umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char target[PATH_BUF];
  if (argc < 2 || get_string(env, argv[0], target, sizeof target)) return NULL;
  uint32_t flags;
  napi_get_value_uint32(env, argv[1], &flags);
  if (umount2(target, (int)flags) != 0) return throw_errno(env, "umount", target);
  return NULL;
}

// A thread per attach relays between conmon's SOCK_SEQPACKET attach socket and one end of a SOCK_STREAM pair that
// Node's event loop can own (libuv has no SEQPACKET handle; a blocking read would hold a thread-pool thread for
// the attach's whole life). Towards Node each packet becomes [u32 big-endian length][packet]; Node's bytes become
// stdin packets of at most 8 KiB (conmon's read size). Node's end-of-stream half-closes the attach socket, which
// conmon takes as stdin's end; the container's end closes the stream.
struct bridge {
  int seq;
  int stream;
};

static int write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

static void *relay(void *arg) {
  struct bridge *b = arg;
  static const size_t packet_max = 65536;
  char *buf = malloc(packet_max + 4);
  int stdin_open = 1;
  while (buf) {
    struct pollfd fds[2] = {{b->seq, POLLIN, 0}, {stdin_open ? b->stream : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) {
      ssize_t n = recv(b->seq, buf + 4, packet_max, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      uint32_t length = (uint32_t)n;
      buf[0] = (char)(length >> 24), buf[1] = (char)(length >> 16), buf[2] = (char)(length >> 8), buf[3] = (char)length;
      if (write_all(b->stream, buf, (size_t)n + 4) != 0) break;
    }
    if (stdin_open && fds[1].revents) {
      ssize_t n = recv(b->stream, buf, 8192, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        stdin_open = 0;
        shutdown(b->seq, SHUT_WR);
      } else if (write_all(b->seq, buf, (size_t)n) != 0) {
        stdin_open = 0;
      }
    }
  }
  free(buf);
  close(b->seq);
  close(b->stream);
  free(b);
  return NULL;
}

// seqpacketBridge(path) -> fd: connects to the SEQPACKET socket at path and returns the stream end relayed to it.
static napi_value SeqpacketBridge(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (argc < 1 || get_string(env, argv[0], addr.sun_path, sizeof addr.sun_path)) return NULL;
  int seq = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (seq < 0) return throw_errno(env, "socket", addr.sun_path);
  if (connect(seq, (struct sockaddr *)&addr, sizeof addr) != 0) {
    napi_value thrown = throw_errno(env, "connect", addr.sun_path);
    close(seq);
    return thrown;
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    napi_value thrown = throw_errno(env, "socketpair", addr.sun_path);
    close(seq);
    return thrown;
  }
  struct bridge *b = malloc(sizeof *b);
  b->seq = seq;
  b->stream = pair[1];
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int failed = pthread_create(&thread, &attr, relay, b);
  pthread_attr_destroy(&attr);
  if (failed) {
    errno = failed;
    napi_value thrown = throw_errno(env, "pthread_create", addr.sun_path);
    close(seq), close(pair[0]), close(pair[1]), free(b);
    return thrown;
  }
  napi_value result;
  napi_create_int32(env, pair[0], &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mknod", NULL, Mknod, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, Lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattr", NULL, Lgetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"llistxattr", NULL, Llistxattr, NULL, NULL, NULL, napi_default, NULL},
    {"mount", NULL, Mount, NULL, NULL, NULL, napi_default, NULL},
    {"umount", NULL, Umount, NULL, NULL, NULL, napi_default, NULL},
    {"seqpacketBridge", NULL, SeqpacketBridge, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
