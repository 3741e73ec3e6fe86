//! The libc surface this library uses, for Linux with glibc (x86_64 and aarch64).
//!
//! Declared here, in one place, rather than taken from std.c so that the types are the
//! plain C ones and no declaration names a function this library itself exports
//! (connect, bind, accept, accept4, getaddrinfo, ...). Those are reached only through
//! real.zig. The numeric constants are checked against std.os.linux at compile time.

const std = @import("std");
const linux = std.os.linux;

pub const socklen_t = u32;
pub const pid_t = c_int;

pub const AF_UNIX: c_int = 1;
pub const AF_INET: c_int = 2;
pub const AF_INET6: c_int = 10;
pub const AF_UNSPEC: c_int = 0;
pub const SOCK_STREAM: c_int = 1;
pub const SOCK_DGRAM: c_int = 2;
pub const SOCK_RAW: c_int = 3;
pub const SOCK_NONBLOCK: c_int = 0o4000;
pub const SOCK_CLOEXEC: c_int = 0o2000000;
pub const SOL_SOCKET: c_int = 1;
pub const SO_TYPE: c_int = 3;
pub const SO_ERROR: c_int = 4;
pub const IPPROTO_TCP: c_int = 6;
pub const TCP_DEFER_ACCEPT: c_int = 9;
pub const IPPROTO_IPV6: c_int = 41;
pub const IPV6_V6ONLY: c_int = 26;
pub const MSG_DONTWAIT: c_int = 0x40;
pub const MSG_NOSIGNAL: c_int = 0x4000;
pub const MSG_FASTOPEN: c_int = 0x20000000;
pub const SO_ACCEPTCONN: c_int = 30;
pub const SHUT_RDWR: c_int = 2;

pub const F_GETFD: c_int = 1;
pub const F_SETFD: c_int = 2;
pub const F_GETFL: c_int = 3;
pub const F_SETFL: c_int = 4;
pub const F_DUPFD_CLOEXEC: c_int = 1030;
pub const FD_CLOEXEC: c_int = 1;
pub const O_RDONLY: c_int = 0;
pub const O_WRONLY: c_int = 1;
pub const O_CREAT: c_int = 0o100;
pub const O_TRUNC: c_int = 0o1000;
pub const O_APPEND: c_int = 0o2000;
pub const O_NONBLOCK: c_int = 0o4000;
pub const O_CLOEXEC: c_int = 0o2000000;
/// Differs between the two targets (arm64 puts O_DIRECTORY and O_NOFOLLOW lower).
pub const O_NOFOLLOW: c_int = if (@import("builtin").cpu.arch == .aarch64) 0o100000 else 0o400000;

pub const POLLIN: c_short = 0x1;
pub const POLLOUT: c_short = 0x4;
pub const POLLERR: c_short = 0x8;
pub const POLLHUP: c_short = 0x10;

pub const SIGKILL: c_int = 9;
pub const SIG_BLOCK: c_int = 0;
pub const SIG_SETMASK: c_int = 2;
pub const PTHREAD_CREATE_DETACHED: c_int = 1;
pub const WNOHANG: c_int = 1;
pub const CLOCK_REALTIME: c_int = 0;
pub const CLOCK_MONOTONIC: c_int = 1;

pub const EINTR: c_int = 4;
pub const ENOENT: c_int = 2;
pub const ECHILD: c_int = 10;
pub const EAGAIN: c_int = 11;
pub const ENOMEM: c_int = 12;
pub const EINVAL: c_int = 22;
pub const ERANGE: c_int = 34;
pub const ENOSYS: c_int = 38;
pub const EAFNOSUPPORT: c_int = 97;
pub const ENETUNREACH: c_int = 101;
pub const EHOSTUNREACH: c_int = 113;
pub const ECONNABORTED: c_int = 103;
pub const ETIMEDOUT: c_int = 110;
pub const ECONNREFUSED: c_int = 111;
pub const EINPROGRESS: c_int = 115;

// getaddrinfo flags and errors, as glibc's <netdb.h> defines them.
pub const AI_PASSIVE: c_int = 0x1;
pub const AI_CANONNAME: c_int = 0x2;
pub const AI_NUMERICHOST: c_int = 0x4;
pub const AI_V4MAPPED: c_int = 0x8;
pub const AI_ALL: c_int = 0x10;
pub const AI_NUMERICSERV: c_int = 0x400;
pub const EAI_BADFLAGS: c_int = -1;
pub const EAI_NONAME: c_int = -2;
pub const EAI_AGAIN: c_int = -3;
pub const EAI_FAIL: c_int = -4;
pub const EAI_FAMILY: c_int = -6;
pub const EAI_SOCKTYPE: c_int = -7;
pub const EAI_SERVICE: c_int = -8;
pub const EAI_ADDRFAMILY: c_int = -9;
pub const EAI_MEMORY: c_int = -10;
pub const EAI_SYSTEM: c_int = -11;
pub const HOST_NOT_FOUND: c_int = 1;
pub const TRY_AGAIN: c_int = 2;
pub const NO_RECOVERY: c_int = 3;
pub const NO_DATA: c_int = 4;
pub const NETDB_INTERNAL: c_int = -1;

comptime {
    std.debug.assert(AF_INET == linux.AF.INET);
    std.debug.assert(AF_INET6 == linux.AF.INET6);
    std.debug.assert(AF_UNIX == linux.AF.UNIX);
    std.debug.assert(SOCK_STREAM == linux.SOCK.STREAM);
    std.debug.assert(SOCK_DGRAM == linux.SOCK.DGRAM);
    std.debug.assert(SOCK_NONBLOCK == linux.SOCK.NONBLOCK);
    std.debug.assert(SOCK_CLOEXEC == linux.SOCK.CLOEXEC);
    std.debug.assert(SOL_SOCKET == linux.SOL.SOCKET);
    std.debug.assert(SO_TYPE == linux.SO.TYPE);
    std.debug.assert(SO_ERROR == linux.SO.ERROR);
    std.debug.assert(IPV6_V6ONLY == linux.IPV6.V6ONLY);
    std.debug.assert(MSG_NOSIGNAL == linux.MSG.NOSIGNAL);
    std.debug.assert(MSG_DONTWAIT == linux.MSG.DONTWAIT);
    std.debug.assert(MSG_FASTOPEN == linux.MSG.FASTOPEN);
    std.debug.assert(SO_ACCEPTCONN == linux.SO.ACCEPTCONN);
    std.debug.assert(TCP_DEFER_ACCEPT == linux.TCP.DEFER_ACCEPT);
    std.debug.assert(O_NOFOLLOW == 1 << @bitOffsetOf(linux.O, "NOFOLLOW"));
    std.debug.assert(EHOSTUNREACH == @backingInt(linux.E.HOSTUNREACH));
    std.debug.assert(ENETUNREACH == @backingInt(linux.E.NETUNREACH));
    std.debug.assert(F_GETFL == linux.F.GETFL);
    std.debug.assert(F_SETFD == linux.F.SETFD);
    std.debug.assert(F_DUPFD_CLOEXEC == linux.F.DUPFD_CLOEXEC);
    std.debug.assert(POLLIN == linux.POLL.IN);
    std.debug.assert(POLLOUT == linux.POLL.OUT);
    std.debug.assert(ETIMEDOUT == @backingInt(linux.E.TIMEDOUT));
    std.debug.assert(ECONNREFUSED == @backingInt(linux.E.CONNREFUSED));
    std.debug.assert(EINPROGRESS == @backingInt(linux.E.INPROGRESS));
    std.debug.assert(ECONNABORTED == @backingInt(linux.E.CONNABORTED));
    std.debug.assert(EAFNOSUPPORT == @backingInt(linux.E.AFNOSUPPORT));
    std.debug.assert(O_NONBLOCK == 1 << @bitOffsetOf(linux.O, "NONBLOCK"));
    std.debug.assert(O_CLOEXEC == 1 << @bitOffsetOf(linux.O, "CLOEXEC"));
    std.debug.assert(O_NOFOLLOW == 1 << @bitOffsetOf(linux.O, "NOFOLLOW"));
}

pub const sockaddr = extern struct {
    family: u16,
    data: [14]u8,
};

pub const sockaddr_in = extern struct {
    family: u16,
    port: u16, // Network byte order.
    addr: [4]u8,
    zero: [8]u8 = @splat(0),
};

pub const sockaddr_in6 = extern struct {
    family: u16,
    port: u16, // Network byte order.
    flowinfo: u32 = 0,
    addr: [16]u8,
    scope_id: u32 = 0,
};

/// Big enough for every family this library reads (checked by the comptime block).
pub const sockaddr_storage = extern struct {
    family: u16,
    head: [6]u8,
    rest: [15]u64,
};

comptime {
    std.debug.assert(@sizeOf(sockaddr_in) == 16);
    std.debug.assert(@sizeOf(sockaddr_in6) == 28);
    std.debug.assert(@sizeOf(sockaddr_storage) == 128);
}

/// glibc's struct addrinfo.
pub const addrinfo = extern struct {
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
    addrlen: socklen_t,
    addr: ?*sockaddr,
    canonname: ?[*:0]u8,
    next: ?*addrinfo,
};

pub const hostent = extern struct {
    name: ?[*:0]u8,
    aliases: ?[*:null]?[*:0]u8,
    addrtype: c_int,
    length: c_int,
    addr_list: ?[*:null]?[*]u8,
};

pub const servent = extern struct {
    name: ?[*:0]u8,
    aliases: ?[*:null]?[*:0]u8,
    port: c_int, // Network byte order, in the low 16 bits.
    proto: ?[*:0]u8,
};

pub const pollfd = extern struct {
    fd: c_int,
    events: c_short,
    revents: c_short,
};

pub const timespec = extern struct {
    sec: isize,
    nsec: isize,
};

/// glibc's struct msghdr.
pub const msghdr = extern struct {
    name: ?*anyopaque,
    namelen: socklen_t,
    iov: ?*anyopaque,
    iovlen: usize,
    control: ?*anyopaque,
    controllen: usize,
    flags: c_int,
};

pub const pthread_t = c_ulong;
/// glibc's pthread_attr_t is 56 bytes on x86_64 and 64 on aarch64.
pub const pthread_attr_t = extern struct {
    storage: [64]u8 align(8) = @splat(0),
};
pub const pthread_mutex_t = std.c.pthread_mutex_t;
pub const pthread_cond_t = std.c.pthread_cond_t;
pub const pthread_once_t = c_int;

/// glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 on LP64;
/// both are kept as opaque storage with room to spare.
pub const posix_spawn_file_actions_t = extern struct {
    storage: [160]u8 align(8) = @splat(0),
};
pub const posix_spawnattr_t = extern struct {
    storage: [512]u8 align(8) = @splat(0),
};
pub const sigset_t = extern struct {
    bits: [128]u8 align(8) = @splat(0),
};
pub const POSIX_SPAWN_SETPGROUP: c_short = 0x02;
pub const POSIX_SPAWN_SETSIGMASK: c_short = 0x08;

pub extern "c" fn __errno_location() *c_int;
pub extern "c" fn __h_errno_location() *c_int;
pub extern "c" var environ: ?[*:null]?[*:0]u8;

pub extern "c" fn dlsym(handle: ?*anyopaque, symbol: [*:0]const u8) ?*anyopaque;
pub extern "c" fn getenv(name: [*:0]const u8) ?[*:0]const u8;
pub extern "c" fn malloc(size: usize) ?*anyopaque;
pub extern "c" fn free(ptr: ?*anyopaque) void;

pub extern "c" fn open(path: [*:0]const u8, flags: c_int, ...) c_int;
pub extern "c" fn close(fd: c_int) c_int;
pub extern "c" fn write(fd: c_int, buf: [*]const u8, len: usize) isize;
pub extern "c" fn read(fd: c_int, buf: [*]u8, len: usize) isize;
pub extern "c" fn pipe2(fds: *[2]c_int, flags: c_int) c_int;
pub extern "c" fn fcntl(fd: c_int, cmd: c_int, ...) c_int;
pub extern "c" fn dup2(old_fd: c_int, new_fd: c_int) c_int;
pub extern "c" fn access(path: [*:0]const u8, mode: c_int) c_int;
pub extern "c" fn poll(fds: [*]pollfd, count: c_ulong, timeout_ms: c_int) c_int;
pub extern "c" fn clock_gettime(clock: c_int, ts: *timespec) c_int;
pub extern "c" fn nanosleep(request: *const timespec, remain: ?*timespec) c_int;
pub extern "c" fn getpid() pid_t;
pub extern "c" fn getuid() c_uint;
pub extern "c" fn kill(pid: pid_t, signal: c_int) c_int;
pub extern "c" fn waitpid(pid: pid_t, status: ?*c_int, options: c_int) pid_t;

pub extern "c" fn socket(domain: c_int, kind: c_int, protocol: c_int) c_int;
pub extern "c" fn shutdown(fd: c_int, how: c_int) c_int;
pub extern "c" fn send(fd: c_int, buf: [*]const u8, len: usize, flags: c_int) isize;
pub extern "c" fn recv(fd: c_int, buf: [*]u8, len: usize, flags: c_int) isize;
pub extern "c" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: ?*anyopaque,
    len: *socklen_t,
) c_int;
pub extern "c" fn getpeername(fd: c_int, addr: *sockaddr_storage, len: *socklen_t) c_int;
pub extern "c" fn getsockname(fd: c_int, addr: *sockaddr_storage, len: *socklen_t) c_int;
pub extern "c" fn inet_pton(family: c_int, text: [*:0]const u8, out: *anyopaque) c_int;
pub extern "c" fn inet_ntop(
    family: c_int,
    addr: *const anyopaque,
    out: [*]u8,
    len: socklen_t,
) ?[*:0]const u8;
pub extern "c" fn getservbyname_r(
    name: [*:0]const u8,
    proto: [*:0]const u8,
    result_buf: *servent,
    buf: [*]u8,
    buflen: usize,
    result: *?*servent,
) c_int;

pub extern "c" fn pthread_once(once: *pthread_once_t, init: *const fn () callconv(.c) void) c_int;
pub extern "c" fn pthread_atfork(
    prepare: ?*const fn () callconv(.c) void,
    parent: ?*const fn () callconv(.c) void,
    child: ?*const fn () callconv(.c) void,
) c_int;
pub extern "c" fn pthread_mutex_lock(mutex: *pthread_mutex_t) c_int;
pub extern "c" fn pthread_mutex_unlock(mutex: *pthread_mutex_t) c_int;
pub extern "c" fn pthread_cond_broadcast(cond: *pthread_cond_t) c_int;
pub extern "c" fn pthread_cond_timedwait(
    cond: *pthread_cond_t,
    mutex: *pthread_mutex_t,
    abstime: *const timespec,
) c_int;

pub extern "c" fn sigemptyset(set: *sigset_t) c_int;
pub extern "c" fn sigfillset(set: *sigset_t) c_int;
pub extern "c" fn pthread_sigmask(how: c_int, set: ?*const sigset_t, old: ?*sigset_t) c_int;
pub extern "c" fn pthread_attr_init(attr: *pthread_attr_t) c_int;
pub extern "c" fn pthread_attr_destroy(attr: *pthread_attr_t) c_int;
pub extern "c" fn pthread_attr_setstacksize(attr: *pthread_attr_t, size: usize) c_int;
pub extern "c" fn pthread_attr_setdetachstate(attr: *pthread_attr_t, state: c_int) c_int;
pub extern "c" fn pthread_create(
    thread: *pthread_t,
    attr: ?*const pthread_attr_t,
    start: *const fn (?*anyopaque) callconv(.c) ?*anyopaque,
    arg: ?*anyopaque,
) c_int;
pub extern "c" fn posix_spawn_file_actions_init(actions: *posix_spawn_file_actions_t) c_int;
pub extern "c" fn posix_spawn_file_actions_destroy(actions: *posix_spawn_file_actions_t) c_int;
pub extern "c" fn posix_spawn_file_actions_adddup2(
    actions: *posix_spawn_file_actions_t,
    fd: c_int,
    new_fd: c_int,
) c_int;
pub extern "c" fn posix_spawn_file_actions_addopen(
    actions: *posix_spawn_file_actions_t,
    fd: c_int,
    path: [*:0]const u8,
    flags: c_int,
    mode: c_uint,
) c_int;
pub extern "c" fn posix_spawnattr_init(attr: *posix_spawnattr_t) c_int;
pub extern "c" fn posix_spawnattr_destroy(attr: *posix_spawnattr_t) c_int;
pub extern "c" fn posix_spawnattr_setflags(attr: *posix_spawnattr_t, flags: c_short) c_int;
pub extern "c" fn posix_spawnattr_setpgroup(attr: *posix_spawnattr_t, group: pid_t) c_int;
pub extern "c" fn posix_spawnattr_setsigmask(attr: *posix_spawnattr_t, mask: *const sigset_t) c_int;
pub extern "c" fn posix_spawn(
    pid: *pid_t,
    path: [*:0]const u8,
    actions: ?*const posix_spawn_file_actions_t,
    attr: ?*const posix_spawnattr_t,
    argv: [*:null]const ?[*:0]const u8,
    envp: [*:null]const ?[*:0]const u8,
) c_int;

pub fn errno() c_int {
    return __errno_location().*;
}

pub fn set_errno(value: c_int) void {
    std.debug.assert(value > 0);
    __errno_location().* = value;
}

/// Monotonic milliseconds, for deadlines.
pub fn now_ms() u64 {
    var ts: timespec = undefined;
    const rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    std.debug.assert(rc == 0);
    std.debug.assert(ts.sec >= 0);
    return @as(u64, @intCast(ts.sec)) * 1000 + @as(u64, @intCast(@divTrunc(ts.nsec, 1_000_000)));
}

/// Milliseconds left until deadline_ms, clamped to what poll() takes.
pub fn remaining_ms(deadline_ms: u64) c_int {
    const now = now_ms();
    if (now >= deadline_ms) return 0;
    return @intCast(@min(deadline_ms - now, std.math.maxInt(c_int)));
}

pub fn sleep_ms(ms: u32) void {
    const ts: timespec = .{ .sec = @intCast(ms / 1000), .nsec = @intCast((ms % 1000) * 1_000_000) };
    _ = nanosleep(&ts, null);
}
