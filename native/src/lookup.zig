//! Runs `<bin> environment contact-lookup --format preload <tunnel>` and collects its
//! standard output, within a deadline.
//!
//! The binary is GLOBUS_STREAMS_BIN (searched on PATH when it has no slash), else
//! `globus-streams` on PATH. It is started with posix_spawn (argv, no shell), stdin from
//! /dev/null, stdout into a close-on-exec pipe, stderr shared with the program (so its
//! messages reach the user's terminal unchanged), and the program's environment minus
//! LD_PRELOAD so the binary does not run under this library. The child gets a process
//! group of its own; on timeout or overlong output that group is killed with SIGKILL and
//! the child reaped.
//!
//! Limits: the child inherits the program's descriptors that lack close-on-exec for its
//! short life (posix_spawn in glibc 2.17 cannot close them all). If the program reaps
//! every child itself (SIGCHLD ignored or a waitpid(-1) loop) the exit status is lost;
//! the output is then trusted when it parses.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const names = @import("names.zig");
const answer = @import("answer.zig");
const sync = @import("sync.zig");

pub const path_bytes_max = 4096;
pub const path_entries_max = 256;
pub const env_entries_max = 8192;
const reap_poll_ms = 5;

pub const Failure = enum {
    no_binary,
    spawn_failed,
    environment_too_large,
    timeout,
    output_too_long,
    exit_status,
    io_error,
};

pub const Output = struct {
    failure: ?Failure,
    len: usize = 0,
    /// The exit code when the child exited, -1 when it was killed or not seen.
    exit_code: c_int = -1,
};

/// The environment handed to the child, built under spawn_lock.
var env_entries: [env_entries_max + 1]?[*:0]const u8 = undefined;
pub var spawn_lock: sync.Lock = .{};

/// Runs the lookup for tunnel into buffer.
pub fn run(
    tunnel: *const names.TunnelId,
    bin: ?[]const u8,
    timeout_ms: u32,
    buffer: *[answer.answer_bytes_max]u8,
) Output {
    assert(timeout_ms > 0);
    const deadline_ms = sys.now_ms() + timeout_ms;
    var path_buffer: [path_bytes_max + 1]u8 = undefined;
    const path = find_binary(
        bin orelse "globus-streams",
        &path_buffer,
    ) orelse return .{ .failure = .no_binary };
    var fds: [2]c_int = undefined;
    if (sys.pipe2(&fds, sys.O_CLOEXEC) != 0) return .{ .failure = .io_error };
    const write_end = above_stdio(fds[1]);
    const pid = spawn(path, tunnel, write_end) catch |err| {
        _ = sys.close(fds[0]);
        _ = sys.close(write_end);
        return .{ .failure = switch (err) {
            error.NoBinary => .no_binary,
            error.EnvironmentTooLarge => .environment_too_large,
            error.SpawnFailed => .spawn_failed,
        } };
    };
    _ = sys.close(write_end);
    const read = read_all(fds[0], buffer, deadline_ms);
    _ = sys.close(fds[0]);
    if (read.failure) |failure| {
        _ = sys.kill(-pid, sys.SIGKILL);
        _ = reap(pid, sys.now_ms() + 1000);
        return .{ .failure = failure };
    }
    const exit_code = reap(pid, deadline_ms) orelse return .{ .failure = .timeout };
    if (exit_code > 0) return .{ .failure = .exit_status, .exit_code = exit_code, .len = read.len };
    return .{ .failure = null, .len = read.len, .exit_code = exit_code };
}

/// A pipe end the child's dup2 onto fd 1 cannot collide with (when the program closed
/// its stdio the pipe can get fd 0, 1 or 2).
fn above_stdio(fd: c_int) c_int {
    if (fd > 2) return fd;
    const moved = sys.fcntl(fd, sys.F_DUPFD_CLOEXEC, @as(c_int, 3));
    if (moved < 0) return fd;
    _ = sys.close(fd);
    return moved;
}

const SpawnError = error{ NoBinary, SpawnFailed, EnvironmentTooLarge };

fn spawn(path: [:0]const u8, tunnel: *const names.TunnelId, write_end: c_int) SpawnError!sys.pid_t {
    var id_text: [names.tunnel_id_text_len + 1]u8 = undefined;
    @memcpy(id_text[0..names.tunnel_id_text_len], &tunnel.text);
    id_text[names.tunnel_id_text_len] = 0;
    const argv = [_:null]?[*:0]const u8{
        path.ptr, "environment", "contact-lookup", "--format", "preload", @ptrCast(&id_text),
    };
    var actions: sys.posix_spawn_file_actions_t = .{};
    var attr: sys.posix_spawnattr_t = .{};
    var mask: sys.sigset_t = .{};
    if (sys.posix_spawn_file_actions_init(&actions) != 0) return error.SpawnFailed;
    defer _ = sys.posix_spawn_file_actions_destroy(&actions);
    if (sys.posix_spawnattr_init(&attr) != 0) return error.SpawnFailed;
    defer _ = sys.posix_spawnattr_destroy(&attr);
    var failed = sys.posix_spawn_file_actions_adddup2(&actions, write_end, 1) != 0;
    failed = failed or sys.posix_spawn_file_actions_addopen(
        &actions,
        0,
        "/dev/null",
        sys.O_RDONLY,
        0,
    ) != 0;
    // The program may block signals (the JVM does); the binary starts with none blocked.
    failed = failed or sys.sigemptyset(&mask) != 0;
    failed = failed or sys.posix_spawnattr_setsigmask(&attr, &mask) != 0;
    // Its own process group, so a timeout kills whatever it started too.
    failed = failed or sys.posix_spawnattr_setpgroup(&attr, 0) != 0;
    const spawn_flags = sys.POSIX_SPAWN_SETSIGMASK | sys.POSIX_SPAWN_SETPGROUP;
    failed = failed or sys.posix_spawnattr_setflags(&attr, spawn_flags) != 0;
    if (failed) return error.SpawnFailed;

    spawn_lock.lock();
    defer spawn_lock.unlock();
    const envp = child_environment() orelse return error.EnvironmentTooLarge;
    var pid: sys.pid_t = 0;
    const rc = sys.posix_spawn(&pid, path.ptr, &actions, &attr, &argv, envp);
    if (rc == sys.ENOENT) return error.NoBinary;
    if (rc != 0) return error.SpawnFailed;
    assert(pid > 0);
    return pid;
}

/// The program's environment without LD_PRELOAD, in env_entries. Holds spawn_lock.
fn child_environment() ?[*:null]const ?[*:0]const u8 {
    const environ = sys.environ orelse {
        env_entries[0] = null;
        return @ptrCast(&env_entries);
    };
    var count: usize = 0;
    var index: usize = 0;
    while (environ[index]) |entry| : (index += 1) {
        if (index == 2 * env_entries_max) return null;
        if (std.mem.startsWith(u8, std.mem.span(entry), "LD_PRELOAD=")) continue;
        if (count == env_entries_max) return null;
        env_entries[count] = entry;
        count += 1;
    }
    env_entries[count] = null;
    return @ptrCast(&env_entries);
}

const ReadResult = struct { failure: ?Failure, len: usize };

fn read_all(fd: c_int, buffer: *[answer.answer_bytes_max]u8, deadline_ms: u64) ReadResult {
    var len: usize = 0;
    var rounds: u32 = 0;
    while (rounds < answer.answer_bytes_max + 64) : (rounds += 1) {
        const left_ms = sys.remaining_ms(deadline_ms);
        if (left_ms == 0) return .{ .failure = .timeout, .len = len };
        var poll_fd = [1]sys.pollfd{.{ .fd = fd, .events = sys.POLLIN, .revents = 0 }};
        const ready = sys.poll(&poll_fd, 1, left_ms);
        if (ready == 0) return .{ .failure = .timeout, .len = len };
        if (ready < 0) {
            if (sys.errno() == sys.EINTR) continue;
            return .{ .failure = .io_error, .len = len };
        }
        if (len == buffer.len) return .{ .failure = .output_too_long, .len = len };
        const rc = sys.read(fd, buffer[len..].ptr, buffer.len - len);
        if (rc == 0) return .{ .failure = null, .len = len };
        if (rc < 0) {
            if (sys.errno() == sys.EINTR or sys.errno() == sys.EAGAIN) continue;
            return .{ .failure = .io_error, .len = len };
        }
        len += @intCast(rc);
    }
    return .{ .failure = .io_error, .len = len };
}

/// Waits for the child until deadline_ms, then kills it. Returns its exit code (a signal
/// counts as 128 + n), 0 when someone else reaped it, or null when it had to be killed.
fn reap(pid: sys.pid_t, deadline_ms: u64) ?c_int {
    assert(pid > 0);
    var rounds: u32 = 0;
    while (rounds < 100_000) : (rounds += 1) {
        var status: c_int = 0;
        const rc = sys.waitpid(pid, &status, sys.WNOHANG);
        if (rc == pid) {
            if (status & 0x7f == 0) return (status >> 8) & 0xff;
            return 128 + (status & 0x7f);
        }
        if (rc < 0) {
            if (sys.errno() == sys.EINTR) continue;
            return 0; // ECHILD: the program reaped it; judge by the output.
        }
        if (sys.now_ms() >= deadline_ms) break;
        sys.sleep_ms(reap_poll_ms);
    }
    _ = sys.kill(-pid, sys.SIGKILL);
    var status: c_int = 0;
    _ = sys.waitpid(pid, &status, 0);
    return null;
}

/// Finds name the way execvp would: as given when it has a slash, else on PATH.
fn find_binary(name: []const u8, out: *[path_bytes_max + 1]u8) ?[:0]const u8 {
    if (name.len == 0 or name.len > path_bytes_max) return null;
    if (std.mem.findScalar(u8, name, '/') != null) {
        @memcpy(out[0..name.len], name);
        out[name.len] = 0;
        return out[0..name.len :0];
    }
    const default_path = "/usr/local/bin:/usr/bin:/bin";
    const path_env = if (sys.getenv("PATH")) |value| std.mem.span(value) else default_path;
    var dirs = std.mem.splitScalar(u8, path_env, ':');
    var entries: u32 = 0;
    while (dirs.next()) |raw_dir| : (entries += 1) {
        if (entries == path_entries_max) break;
        const dir = if (raw_dir.len == 0) "." else raw_dir;
        const len = dir.len + 1 + name.len;
        if (len > path_bytes_max) continue;
        @memcpy(out[0..dir.len], dir);
        out[dir.len] = '/';
        @memcpy(out[dir.len + 1 .. len], name);
        out[len] = 0;
        const candidate = out[0..len :0];
        if (sys.access(candidate.ptr, 1) == 0) return candidate;
    }
    return null;
}

test "the binary is found on PATH or taken as given" {
    var out: [path_bytes_max + 1]u8 = undefined;
    try std.testing.expectEqualStrings("/x/y", find_binary("/x/y", &out).?);
    try std.testing.expect(find_binary("sh", &out) != null);
    try std.testing.expect(find_binary("globus-streams-surely-not-installed-here", &out) == null);
    try std.testing.expect(find_binary("", &out) == null);
}
