//! Runs `<bin> environment contact-lookup --format preload <tunnel>` and collects its
//! standard output, within a deadline.
//!
//! The binary is GLOBUS_STREAMS_BIN (searched on PATH when it has no slash), else
//! `globus-streams` on PATH. It is started with posix_spawn (argv, no shell), stdin from
//! /dev/null, stdout into a close-on-exec pipe, stderr to /dev/null (the program's
//! stderr is not ours to write into; with GLOBUS_STREAMS_DEBUG it is shared, so the
//! binary's messages show beside the debug lines), and the environment the program
//! started with (saved at the library's first call, so a daemon that clears its
//! environment later, as nginx does in its workers, still finds its conf files) minus
//! LD_PRELOAD so the binary does not run under this library. The child gets a process
//! group of its own; on timeout or overlong output that group is killed with SIGKILL and
//! the child reaped. The answer is complete when the child has exited: what it wrote by
//! then is read, and a grandchild that kept the pipe open does not hold the lookup.
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
const log = @import("log.zig");

pub const path_bytes_max = 4096;
pub const path_entries_max = 256;
pub const env_entries_max = 8192;
const reap_poll_ms = 5;
/// How often the reader checks whether the child has exited while its pipe stays open.
const exit_check_ms = 20;

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

pub const saved_env_bytes_max = 128 * 1024;

/// The environment handed to the child, built under spawn_lock.
var env_entries: [env_entries_max + 1]?[*:0]const u8 = undefined;
/// The program's environment at start-up: its strings, and pointers to them.
var saved_bytes: [saved_env_bytes_max]u8 = undefined;
var saved_entries: [env_entries_max + 1]?[*:0]const u8 = undefined;
var saved: bool = false;

/// Keeps a copy of the environment as it is now (called once, from init.zig). When it
/// does not fit, the child gets the environment as it is at each lookup instead.
pub fn save_environment() void {
    assert(!saved);
    const environ = sys.environ orelse return;
    var used: usize = 0;
    var count: usize = 0;
    var index: usize = 0;
    while (environ[index]) |entry| : (index += 1) {
        const text = std.mem.span(entry);
        if (count == env_entries_max or used + text.len + 1 > saved_bytes.len) return;
        @memcpy(saved_bytes[used..][0..text.len], text);
        saved_bytes[used + text.len] = 0;
        saved_entries[count] = @ptrCast(&saved_bytes[used]);
        used += text.len + 1;
        count += 1;
    }
    saved_entries[count] = null;
    saved = true;
}
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
    const read = read_answer(fds[0], pid, buffer, deadline_ms);
    _ = sys.close(fds[0]);
    if (read.failure) |failure| {
        _ = sys.kill(-pid, sys.SIGKILL);
        if (read.exit_code == null) _ = reap(pid, sys.now_ms() + 1000);
        return .{ .failure = failure };
    }
    const exit_code = read.exit_code orelse
        reap(pid, deadline_ms) orelse return .{ .failure = .timeout };
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
    if (!log.enabled()) {
        failed = failed or sys.posix_spawn_file_actions_addopen(
            &actions,
            2,
            "/dev/null",
            sys.O_WRONLY,
            0,
        ) != 0;
    }
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
    const source: ?[*:null]?[*:0]const u8 = if (saved) @ptrCast(&saved_entries) else @ptrCast(sys.environ);
    const environ = source orelse {
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

const ReadResult = struct {
    failure: ?Failure,
    len: usize,
    /// Set when the child was reaped while reading.
    exit_code: ?c_int = null,
};

/// Reads the child's answer until its pipe closes or the child has exited (then what is
/// already in the pipe is taken, and nothing more is waited for).
fn read_answer(
    fd: c_int,
    pid: sys.pid_t,
    buffer: *[answer.answer_bytes_max]u8,
    deadline_ms: u64,
) ReadResult {
    const flags = sys.fcntl(fd, sys.F_GETFL);
    if (flags < 0 or sys.fcntl(fd, sys.F_SETFL, flags | sys.O_NONBLOCK) != 0) {
        return .{ .failure = .io_error, .len = 0 };
    }
    var result: ReadResult = .{ .failure = null, .len = 0 };
    // Each round waits at most exit_check_ms, so this bounds the whole wait as well.
    const rounds_max = lookup_timeout_rounds_max;
    var rounds: u32 = 0;
    while (rounds < rounds_max) : (rounds += 1) {
        const left_ms = sys.remaining_ms(deadline_ms);
        if (left_ms == 0) return .{ .failure = .timeout, .len = result.len };
        var poll_fd = [1]sys.pollfd{.{ .fd = fd, .events = sys.POLLIN, .revents = 0 }};
        const ready = sys.poll(&poll_fd, 1, @min(left_ms, exit_check_ms));
        if (ready < 0 and sys.errno() != sys.EINTR) return .{ .failure = .io_error, .len = result.len };
        if (ready > 0) {
            switch (take(fd, buffer, &result)) {
                .more => continue,
                .end => return result,
                .failed => return result,
            }
        }
        if (ready != 0) continue;
        // Quiet for a while: has the child exited with a grandchild holding the pipe?
        const code = exited(pid) orelse continue;
        result.exit_code = code;
        _ = take(fd, buffer, &result);
        // What it left behind in its process group is a stray: the group id stays
        // reserved while a member lives, so this reaches no one else.
        _ = sys.kill(-pid, sys.SIGKILL);
        return result;
    }
    return .{ .failure = .timeout, .len = result.len };
}

const lookup_timeout_rounds_max = @import("environment.zig").lookup_timeout_max_ms / exit_check_ms + 1_000;

const Taken = enum { more, end, failed };

/// Reads what the pipe holds now into buffer after result.len.
fn take(fd: c_int, buffer: *[answer.answer_bytes_max]u8, result: *ReadResult) Taken {
    var reads: u32 = 0;
    while (reads < answer.answer_bytes_max + 1) : (reads += 1) {
        if (result.len == buffer.len) {
            result.failure = .output_too_long;
            return .failed;
        }
        const rc = sys.read(fd, buffer[result.len..].ptr, buffer.len - result.len);
        if (rc == 0) return .end;
        if (rc < 0) {
            if (sys.errno() == sys.EINTR) continue;
            if (sys.errno() == sys.EAGAIN) return .more;
            result.failure = .io_error;
            return .failed;
        }
        result.len += @intCast(rc);
    }
    return .more;
}

/// The child's exit code (a signal counts as 128 + n) when it has exited, 0 when someone
/// else reaped it, null while it runs.
fn exited(pid: sys.pid_t) ?c_int {
    var status: c_int = 0;
    const rc = sys.waitpid(pid, &status, sys.WNOHANG);
    if (rc == pid) return exit_code_of(status);
    if (rc < 0 and sys.errno() == sys.ECHILD) return null; // Judged by the pipe alone.
    return null;
}

fn exit_code_of(status: c_int) c_int {
    if (status & 0x7f == 0) return (status >> 8) & 0xff;
    return 128 + (status & 0x7f);
}

/// Waits for the child until deadline_ms, then kills it. Returns its exit code (a signal
/// counts as 128 + n), 0 when someone else reaped it, or null when it had to be killed.
fn reap(pid: sys.pid_t, deadline_ms: u64) ?c_int {
    assert(pid > 0);
    var rounds: u32 = 0;
    while (rounds < 100_000) : (rounds += 1) {
        var status: c_int = 0;
        const rc = sys.waitpid(pid, &status, sys.WNOHANG);
        if (rc == pid) return exit_code_of(status);
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
