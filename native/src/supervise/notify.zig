//! The supervisor's side of seccomp user notification: receiving a notification, reading
//! and writing the trapped process's memory, taking copies of its descriptors, and the
//! three ways to answer (a result or errno, continue the call, inject a descriptor).
//!
//! Every read of the process's memory is followed by SECCOMP_IOCTL_NOTIF_ID_VALID
//! before it is trusted: the thread may have died and its id been reused meanwhile.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const seccomp = linux.SECCOMP;

pub const Notification = seccomp.notif;

pub const Errno = linux.E;

/// Receives the next notification; null when it vanished first (the thread was
/// interrupted or died) or on EINTR.
pub fn receive(listener: linux.fd_t) error{ListenerGone}!?Notification {
    var notification = std.mem.zeroes(Notification);
    const rc = linux.ioctl(listener, seccomp.IOCTL_NOTIF.RECV, @intFromPtr(&notification));
    return switch (linux.errno(rc)) {
        .SUCCESS => notification,
        .INTR, .NOENT, .AGAIN => null,
        else => error.ListenerGone,
    };
}

/// True while the notification's thread still waits in that call.
pub fn still_valid(listener: linux.fd_t, id: u64) bool {
    var cookie = id;
    const rc = linux.ioctl(listener, seccomp.IOCTL_NOTIF.ID_VALID, @intFromPtr(&cookie));
    return linux.errno(rc) == .SUCCESS;
}

/// False when the answer reached nobody: the thread was interrupted by a signal (the
/// kernel then restarts or fails its call) or died.
fn send(listener: linux.fd_t, response: seccomp.notif_resp) bool {
    var copy = response;
    const rc = linux.ioctl(listener, seccomp.IOCTL_NOTIF.SEND, @intFromPtr(&copy));
    return linux.errno(rc) == .SUCCESS;
}

/// The call returns value.
pub fn answer_value(listener: linux.fd_t, id: u64, value: i64) void {
    _ = deliver(listener, id, .SUCCESS, value);
}

/// The call fails with err.
pub fn answer_error(listener: linux.fd_t, id: u64, err: Errno) void {
    assert(err != .SUCCESS);
    _ = deliver(listener, id, err, 0);
}

/// The call returns value, or fails with err unless err is SUCCESS; true when the
/// program got it.
pub fn deliver(listener: linux.fd_t, id: u64, err: Errno, value: i64) bool {
    assert(value >= 0);
    const code: i32 = @intCast(@backingInt(err));
    return send(listener, .{ .id = id, .val = if (code == 0) value else 0, .@"error" = -code, .flags = 0 });
}

/// The kernel runs the call as the process made it.
pub fn answer_continue(listener: linux.fd_t, id: u64) void {
    _ = send(listener, .{ .id = id, .val = 0, .@"error" = 0, .flags = seccomp.USER_NOTIF_FLAG_CONTINUE });
}

/// Installs a copy of fd in the process and makes the call return its number, in one
/// step (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14). close_on_exec sets O_CLOEXEC on it.
pub fn answer_with_fd(listener: linux.fd_t, id: u64, fd: linux.fd_t, close_on_exec: bool) error{Gone}!void {
    assert(fd >= 0);
    var request: seccomp.notif_addfd = .{
        .id = id,
        .flags = seccomp.ADDFD_FLAG.SEND,
        .srcfd = @intCast(fd),
        .newfd = 0,
        .newfd_flags = if (close_on_exec) @as(u32, 1) << @bitOffsetOf(linux.O, "CLOEXEC") else 0,
    };
    const rc = linux.ioctl(listener, seccomp.IOCTL_NOTIF.ADDFD, @intFromPtr(&request));
    if (linux.errno(rc) != .SUCCESS) return error.Gone;
}

/// Puts a copy of fd in the process under the number target (closing what was there,
/// as dup2 does), without answering the call (SECCOMP_ADDFD_FLAG_SETFD).
pub fn replace_fd(listener: linux.fd_t, id: u64, fd: linux.fd_t, target: u32, close_on_exec: bool) bool {
    assert(fd >= 0);
    var request: seccomp.notif_addfd = .{
        .id = id,
        .flags = seccomp.ADDFD_FLAG.SETFD,
        .srcfd = @intCast(fd),
        .newfd = target,
        .newfd_flags = if (close_on_exec) @as(u32, 1) << @bitOffsetOf(linux.O, "CLOEXEC") else 0,
    };
    const rc = linux.ioctl(listener, seccomp.IOCTL_NOTIF.ADDFD, @intFromPtr(&request));
    return linux.errno(rc) == .SUCCESS and rc == target;
}

/// Whether descriptor fd of process pid is close-on-exec, from /proc/<pid>/fdinfo/<fd>.
pub fn is_close_on_exec(pid: linux.pid_t, fd: u64) bool {
    var path_buffer: [64]u8 = undefined;
    const path = std.fmt.bufPrintSentinel(&path_buffer, "/proc/{d}/fdinfo/{d}", .{ pid, fd }, 0) catch return false;
    const rc = linux.openat(linux.AT.FDCWD, path, .{ .CLOEXEC = true }, 0);
    if (linux.errno(rc) != .SUCCESS) return false;
    const info_fd: linux.fd_t = @intCast(rc);
    defer _ = linux.close(info_fd);
    var text: [512]u8 = undefined;
    const got = linux.read(info_fd, &text, text.len);
    if (linux.errno(got) != .SUCCESS) return false;
    const key = "flags:";
    const at = std.mem.find(u8, text[0..got], key) orelse return false;
    const rest = std.mem.trimStart(u8, text[at + key.len .. got], " \t");
    const end = std.mem.findAny(u8, rest, " \t\n") orelse rest.len;
    const flags = std.fmt.parseUnsigned(u32, rest[0..end], 8) catch return false;
    return flags & (@as(u32, 1) << @bitOffsetOf(linux.O, "CLOEXEC")) != 0;
}

/// Reads len bytes at address in process pid into buffer; false when it cannot.
pub fn read_memory(pid: linux.pid_t, address: u64, buffer: []u8) bool {
    if (buffer.len == 0) return true;
    if (address == 0) return false;
    const local = [1]std.posix.iovec{.{ .base = buffer.ptr, .len = buffer.len }};
    const remote = [1]std.posix.iovec_const{.{ .base = @ptrFromInt(address), .len = buffer.len }};
    const rc = linux.process_vm_readv(pid, &local, &remote, 0);
    return linux.errno(rc) == .SUCCESS and rc == buffer.len;
}

/// Reads a NUL-terminated string of at most buffer.len - 1 bytes; null when it cannot
/// or it is longer. Reads page by page so a string near the end of a mapping works.
pub fn read_string(pid: linux.pid_t, address: u64, buffer: []u8) ?[]const u8 {
    assert(buffer.len > 0);
    if (address == 0) return null;
    const page_bytes: u64 = 4096;
    var done: usize = 0;
    while (done < buffer.len) {
        const at = address + done;
        const to_page_end: usize = @intCast(page_bytes - at % page_bytes);
        const chunk = @min(to_page_end, buffer.len - done);
        if (!read_memory(pid, at, buffer[done..][0..chunk])) return null;
        if (std.mem.findScalar(u8, buffer[done..][0..chunk], 0)) |end| return buffer[0 .. done + end];
        done += chunk;
    }
    return null;
}

/// Writes bytes at address in process pid.
pub fn write_memory(pid: linux.pid_t, address: u64, bytes: []const u8) bool {
    if (bytes.len == 0) return true;
    if (address == 0) return false;
    const local = [1]std.posix.iovec_const{.{ .base = bytes.ptr, .len = bytes.len }};
    const remote = [1]std.posix.iovec_const{.{ .base = @ptrFromInt(address), .len = bytes.len }};
    const rc = linux.process_vm_writev(pid, &local, &remote, 0);
    return linux.errno(rc) == .SUCCESS and rc == bytes.len;
}

/// A copy of descriptor fd of the process whose thread is tid, close-on-exec in the
/// supervisor. It shares the open file (flags, offset, socket) with the original.
pub fn take_fd(listener: linux.fd_t, id: u64, tid: linux.pid_t, fd: u64) ?linux.fd_t {
    if (fd > std.math.maxInt(i32)) return null;
    const pidfd = open_pidfd(tid) orelse return null;
    defer _ = linux.close(pidfd);
    // The thread id may have been reused between the notification and pidfd_open.
    if (!still_valid(listener, id)) return null;
    const rc = linux.pidfd_getfd(pidfd, @intCast(fd), 0);
    if (linux.errno(rc) != .SUCCESS) return null;
    return @intCast(rc);
}

/// The inode of fd's file: what identifies a socket across copies of its descriptor.
pub fn inode_of(fd: linux.fd_t) ?u64 {
    var buffer: linux.Statx = undefined;
    const rc = linux.statx(fd, "", linux.AT.EMPTY_PATH, .{ .INO = true }, &buffer);
    if (linux.errno(rc) != .SUCCESS) return null;
    return buffer.ino;
}

/// A pidfd for the process of thread tid: the thread-group leader's, found through
/// /proc when tid is another thread (pidfd_open takes thread ids only from Linux 6.9).
fn open_pidfd(tid: linux.pid_t) ?linux.fd_t {
    const rc = linux.pidfd_open(tid, 0);
    if (linux.errno(rc) == .SUCCESS) return @intCast(rc);
    const leader = thread_group_of(tid) orelse return null;
    const again = linux.pidfd_open(leader, 0);
    if (linux.errno(again) != .SUCCESS) return null;
    return @intCast(again);
}

fn thread_group_of(tid: linux.pid_t) ?linux.pid_t {
    var path_buffer: [64]u8 = undefined;
    const path = std.fmt.bufPrintSentinel(&path_buffer, "/proc/{d}/status", .{tid}, 0) catch return null;
    const rc = linux.openat(linux.AT.FDCWD, path, .{ .CLOEXEC = true }, 0);
    if (linux.errno(rc) != .SUCCESS) return null;
    const fd: linux.fd_t = @intCast(rc);
    defer _ = linux.close(fd);
    var text: [2048]u8 = undefined;
    const got = linux.read(fd, &text, text.len);
    if (linux.errno(got) != .SUCCESS) return null;
    const status = text[0..got];
    const key = "\nTgid:";
    const at = std.mem.find(u8, status, key) orelse return null;
    const rest = std.mem.trimStart(u8, status[at + key.len ..], " \t");
    const end = std.mem.findScalar(u8, rest, '\n') orelse rest.len;
    return std.fmt.parseUnsigned(linux.pid_t, rest[0..end], 10) catch null;
}

test "strings and memory are read from a process, this one standing in" {
    const pid = linux.getpid();
    const text: [:0]const u8 = "/etc/hosts";
    var buffer: [64]u8 = undefined;
    try std.testing.expectEqualStrings("/etc/hosts", read_string(pid, @intFromPtr(text.ptr), &buffer).?);
    var small: [4]u8 = undefined;
    try std.testing.expect(read_string(pid, @intFromPtr(text.ptr), &small) == null);
    try std.testing.expect(read_string(pid, 0, &buffer) == null);
    var target: [3]u8 = .{ 0, 0, 0 };
    try std.testing.expect(write_memory(pid, @intFromPtr(&target), "abc"));
    try std.testing.expectEqualStrings("abc", &target);
    try std.testing.expectEqual(pid, thread_group_of(pid).?);
}

test "close-on-exec is read from /proc for a process's descriptor" {
    const pid = linux.getpid();
    var pair: [2]linux.fd_t = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.pipe2(&pair, .{ .CLOEXEC = true }));
    defer _ = linux.close(pair[0]);
    defer _ = linux.close(pair[1]);
    try std.testing.expect(is_close_on_exec(pid, @intCast(pair[0])));
    _ = linux.fcntl(pair[1], linux.F.SETFD, 0);
    try std.testing.expect(!is_close_on_exec(pid, @intCast(pair[1])));
}
