//! Debug lines on stderr, only when GLOBUS_STREAMS_DEBUG asks, tagged by hook:
//! `[connect] 127.0.0.1:4001 -> 127.0.0.1:50123 (tunnel 5f2c8e4a-..., gsa1 ok)`.
//!
//! GLOBUS_STREAMS_DEBUG takes the GLOBUS_XIO_DEBUG shape `level[,[#]file[,flags]]`.
//! This library has one level of detail: a level of 0 (or an empty value) is off, any
//! other value turns every line on. With a file the lines are appended to it instead of
//! stderr; a `#` before the file name truncates it first. Flags are accepted and ignored.
//! A line never goes to stdout, never allocates, and leaves errno as it found it.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");

pub const line_bytes_max = 512;
pub const path_bytes_max = 1024;

pub const Hook = enum { init, getaddrinfo, gethostbyname, connect, bind, accept, lookup };

pub const Settings = struct {
    enabled: bool = false,
    /// The file to write to; empty means stderr.
    path: [path_bytes_max]u8 = undefined,
    path_len: usize = 0,
    truncate: bool = false,
};

var log_fd: c_int = 2;
var log_enabled: bool = false;

/// Parses a GLOBUS_STREAMS_DEBUG value. Never fails: what it cannot read turns logging on
/// to stderr, since the user asked for debugging.
pub fn parse(value: []const u8) Settings {
    var settings: Settings = .{};
    var parts = std.mem.splitScalar(u8, value, ',');
    const level = std.mem.trim(u8, parts.first(), " ");
    if (level.len == 0) return settings;
    if (std.fmt.parseUnsigned(u32, level, 0)) |number| {
        if (number == 0) return settings;
    } else |_| {}
    settings.enabled = true;
    const file = std.mem.trim(u8, parts.next() orelse "", " ");
    var name = file;
    if (name.len > 0 and name[0] == '#') {
        settings.truncate = true;
        name = name[1..];
    }
    if (name.len > 0 and name.len < path_bytes_max) {
        @memcpy(settings.path[0..name.len], name);
        settings.path_len = name.len;
    }
    return settings;
}

/// Called once from init.zig, before any hook logs.
pub fn init() void {
    const value = sys.getenv("GLOBUS_STREAMS_DEBUG") orelse return;
    const settings = parse(std.mem.span(value));
    if (!settings.enabled) return;
    log_enabled = true;
    if (settings.path_len == 0) return;
    var path: [path_bytes_max + 1]u8 = undefined;
    @memcpy(path[0..settings.path_len], settings.path[0..settings.path_len]);
    path[settings.path_len] = 0;
    const fd = open_file(@ptrCast(&path), settings.truncate);
    if (fd >= 0) {
        log_fd = fd;
    } else {
        line(.init, "not writing to debug file \"{s}\": it is a link, not a regular file, " ++
            "or not yours (writing to stderr)", .{settings.path[0..settings.path_len]});
    }
}

/// Opens the debug file as a log a stranger may have prepared (the documented example is
/// in /tmp): O_NOFOLLOW refuses a link, even a dangling one O_CREAT would create through;
/// O_NONBLOCK keeps a FIFO from stalling the host program; an existing file must be a
/// regular one this user owns. Truncation waits for those checks. -1 when refused.
fn open_file(path: [*:0]const u8, truncate: bool) c_int {
    const flags = sys.O_WRONLY | sys.O_APPEND | sys.O_CREAT | sys.O_NOFOLLOW | sys.O_NONBLOCK |
        sys.O_CLOEXEC;
    const fd = sys.open(path, flags, @as(c_uint, 0o600));
    if (fd < 0) return -1;
    if (!owned_regular_file(fd)) {
        _ = sys.close(fd);
        return -1;
    }
    if (truncate) _ = std.os.linux.ftruncate(fd, 0);
    return fd;
}

/// Offsets of st_mode and st_uid in the kernel's struct stat. std.os.linux has no
/// struct stat any more, and statx needs Linux 4.11, newer than the kernels of the
/// glibc 2.17 floor; the plain fstat system call has these fixed layouts.
const stat_mode_offset: usize = if (@import("builtin").cpu.arch == .aarch64) 16 else 24;
const stat_uid_offset: usize = if (@import("builtin").cpu.arch == .aarch64) 24 else 28;
const stat_bytes_max = 256;

fn owned_regular_file(fd: c_int) bool {
    const linux = std.os.linux;
    var buffer: [stat_bytes_max]u8 align(8) = undefined;
    const rc = linux.syscall2(.fstat, @as(usize, @as(u32, @bitCast(fd))), @intFromPtr(&buffer));
    if (linux.errno(rc) != .SUCCESS) return false;
    const mode = std.mem.readInt(u32, buffer[stat_mode_offset..][0..4], .little);
    const uid = std.mem.readInt(u32, buffer[stat_uid_offset..][0..4], .little);
    return linux.S.ISREG(mode) and uid == linux.getuid();
}

pub fn enabled() bool {
    return log_enabled;
}

/// Writes one line `[hook] message` when debugging is on.
pub fn line(hook: Hook, comptime format: []const u8, args: anytype) void {
    if (!log_enabled) return;
    const saved_errno = sys.errno();
    defer sys.__errno_location().* = saved_errno;

    var buffer: [line_bytes_max]u8 = undefined;
    const text = render(&buffer, hook, format, args);
    assert(text.len <= buffer.len);
    var written: usize = 0;
    var attempts: u32 = 0;
    while (written < text.len and attempts < 8) : (attempts += 1) {
        const rc = sys.write(log_fd, text[written..].ptr, text.len - written);
        if (rc <= 0) continue;
        written += @intCast(rc);
    }
}

/// Formats a line into buffer, cutting it short with "..." when it does not fit.
pub fn render(
    buffer: *[line_bytes_max]u8,
    hook: Hook,
    comptime format: []const u8,
    args: anytype,
) []const u8 {
    const prefix = std.fmt.bufPrint(buffer, "[{s}] ", .{@tagName(hook)}) catch unreachable;
    const body_max = buffer.len - prefix.len - 1;
    const body = std.fmt.bufPrint(buffer[prefix.len..][0..body_max], format, args) catch blk: {
        const cut = buffer[prefix.len..][0..body_max];
        @memcpy(cut[cut.len - 3 ..], "...");
        break :blk cut;
    };
    const end = prefix.len + body.len;
    buffer[end] = '\n';
    return buffer[0 .. end + 1];
}

test "debug settings follow the GLOBUS_XIO_DEBUG shape" {
    try std.testing.expect(!parse("").enabled);
    try std.testing.expect(!parse("0").enabled);
    try std.testing.expect(!parse("0,/tmp/x").enabled);
    try std.testing.expect(parse("1").enabled);
    try std.testing.expect(parse("255").enabled);
    try std.testing.expect(parse("ERROR").enabled);
    const to_file = parse("7,#/tmp/streams.log,flags");
    try std.testing.expect(to_file.enabled);
    try std.testing.expect(to_file.truncate);
    try std.testing.expectEqualStrings("/tmp/streams.log", to_file.path[0..to_file.path_len]);
    const appending = parse("1,/tmp/a.log");
    try std.testing.expect(!appending.truncate);
    try std.testing.expectEqualStrings("/tmp/a.log", appending.path[0..appending.path_len]);
}

test "a line is tagged by hook and cut short when too long" {
    var buffer: [line_bytes_max]u8 = undefined;
    const text = render(&buffer, .connect, "{s} -> {s}", .{ "a", "b" });
    try std.testing.expectEqualStrings("[connect] a -> b\n", text);
    const long = @as([line_bytes_max * 2]u8, @splat('x'));
    const cut = render(&buffer, .accept, "{s}", .{long});
    try std.testing.expectEqual(@as(usize, line_bytes_max), cut.len);
    try std.testing.expect(std.mem.endsWith(u8, cut, "...\n"));
    try std.testing.expect(std.mem.startsWith(u8, cut, "[accept] xxx"));
}
