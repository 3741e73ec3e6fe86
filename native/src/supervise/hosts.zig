//! Names for programs that resolve without libc's getaddrinfo (Go, musl, Rust): they read
//! /etc/hosts themselves. An open of /etc/hosts for reading (open, openat, openat2 with
//! exactly that path) is answered with a new memfd holding the real file followed by
//! one line for the tunnel: `127.77.83.1 globus.<id> <--host names>`. It is injected with
//! SECCOMP_IOCTL_NOTIF_ADDFD and SECCOMP_ADDFD_FLAG_SEND, so the call returns its number
//! in one step; O_CLOEXEC is kept. Every other open continues untouched.
//!
//! Only names the supervisor knows before the program starts resolve this way: the
//! launcher's tunnel and its --host names (other globus.<id> names go to DNS and fail).

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const names = @import("../names.zig");
const log = @import("../log.zig");
const notify = @import("notify.zig");
const state = @import("state.zig");
const filter = @import("filter.zig");

pub const hosts_path = "/etc/hosts";
/// The real file is copied up to this size; the rest is left out.
pub const hosts_bytes_max = 1024 * 1024;
const extra_bytes_max = 32 + (names.host_name_bytes_max + 1) * (names.hosts_max + 1);

/// True when names are served at all (a tunnel or --host names).
pub fn wanted() bool {
    return state.settings.tunnel != null;
}

/// The line added to the hosts file, into buffer.
pub fn extra_line(buffer: *[extra_bytes_max]u8, tunnel: *const names.TunnelId, hosts: *const names.HostList) []const u8 {
    var writer = std.Io.Writer.fixed(buffer);
    writer.print("\n127.77.83.1 globus.{s}", .{&tunnel.text}) catch unreachable;
    for (0..hosts.count) |index| {
        writer.print(" {s}", .{hosts.names[index][0..hosts.lens[index]]}) catch unreachable;
    }
    writer.writeAll("\n") catch unreachable;
    return writer.buffered();
}

/// open(path, flags, mode), openat(dirfd, path, flags, mode) or openat2(dirfd, path, how, size).
pub fn on_open(notification: notify.Notification) void {
    const listener = state.listener;
    const id = notification.id;
    const numbers = filter.numbers(filter.native_arch);
    const args = notification.data;
    const nr: u32 = @bitCast(notification.data.nr);
    const pid: linux.pid_t = @intCast(notification.pid);
    const path_address = if (numbers.open != null and nr == numbers.open.?) args.arg0 else args.arg1;
    var flags: u64 = 0;
    if (numbers.open != null and nr == numbers.open.?) {
        flags = args.arg1;
    } else if (nr == numbers.openat) {
        flags = args.arg2;
    } else {
        var how: [8]u8 = undefined; // struct open_how starts with u64 flags.
        if (!notify.read_memory(pid, args.arg2, &how)) return notify.answer_continue(listener, id);
        flags = std.mem.readInt(u64, &how, .little);
    }
    var path_buffer: [hosts_path.len + 2]u8 = undefined;
    const path = notify.read_string(pid, path_address, &path_buffer) orelse {
        return notify.answer_continue(listener, id);
    };
    const o_cloexec: u64 = @as(u64, 1) << @bitOffsetOf(linux.O, "CLOEXEC");
    // O_ACCMODE, O_CREAT, O_TRUNC, O_APPEND, O_DIRECTORY, O_PATH: not a plain read.
    const o_directory: u64 = @as(u64, 1) << @bitOffsetOf(linux.O, "DIRECTORY");
    const o_path: u64 = @as(u64, 1) << @bitOffsetOf(linux.O, "PATH");
    const other_flags: u64 = 0o3 | 0o100 | 0o1000 | 0o2000 | o_directory | o_path;
    if (!std.mem.eql(u8, path, hosts_path) or flags & other_flags != 0) {
        return notify.answer_continue(listener, id);
    }
    if (!notify.still_valid(listener, id)) return;
    const memfd = hosts_file() orelse return notify.answer_continue(listener, id);
    defer _ = linux.close(memfd);
    notify.answer_with_fd(listener, id, memfd, flags & o_cloexec != 0) catch return;
    log.line(.getaddrinfo, "{s}: served with the tunnel's names (globus.{s})", .{ hosts_path, &state.settings.tunnel.?.text });
}

/// A memfd holding /etc/hosts plus the tunnel's line, offset 0.
fn hosts_file() ?linux.fd_t {
    const tunnel = state.settings.tunnel orelse return null;
    const created = linux.memfd_create("hosts", linux.MFD.CLOEXEC);
    if (linux.errno(created) != .SUCCESS) return null;
    const memfd: linux.fd_t = @intCast(created);
    if (!copy_hosts(memfd)) {
        _ = linux.close(memfd);
        return null;
    }
    var buffer: [extra_bytes_max]u8 = undefined;
    const line = extra_line(&buffer, &tunnel, &state.settings.hosts);
    if (!write_all(memfd, line)) {
        _ = linux.close(memfd);
        return null;
    }
    _ = linux.lseek(memfd, 0, linux.SEEK.SET);
    return memfd;
}

/// Copies the real /etc/hosts into memfd; a missing file is an empty one.
fn copy_hosts(memfd: linux.fd_t) bool {
    const opened = linux.openat(linux.AT.FDCWD, hosts_path, .{ .CLOEXEC = true }, 0);
    if (linux.errno(opened) != .SUCCESS) return true;
    const fd: linux.fd_t = @intCast(opened);
    defer _ = linux.close(fd);
    var buffer: [16 * 1024]u8 = undefined;
    var copied: usize = 0;
    while (copied < hosts_bytes_max) {
        const got = linux.read(fd, &buffer, @min(buffer.len, hosts_bytes_max - copied));
        switch (linux.errno(got)) {
            .SUCCESS => {},
            .INTR => continue,
            else => return false,
        }
        if (got == 0) break;
        if (!write_all(memfd, buffer[0..got])) return false;
        copied += got;
    }
    return true;
}

fn write_all(fd: linux.fd_t, bytes: []const u8) bool {
    var done: usize = 0;
    while (done < bytes.len) {
        const rc = linux.write(fd, bytes[done..].ptr, bytes.len - done);
        switch (linux.errno(rc)) {
            .SUCCESS => done += rc,
            .INTR => continue,
            else => return false,
        }
        if (rc == 0) return false;
    }
    return true;
}

test "the hosts line names the tunnel and the --host names" {
    var buffer: [extra_bytes_max]u8 = undefined;
    const tunnel = names.TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;
    var hosts: names.HostList = .{};
    _ = hosts.parse("real.host,other.host");
    try std.testing.expectEqualStrings(
        "\n127.77.83.1 globus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f real.host other.host\n",
        extra_line(&buffer, &tunnel, &hosts),
    );
}
