//! Starting the supervised program and ending with it: the child's set-up (no_new_privs,
//! the filter with a notification listener, the listener handed to the parent, exec),
//! signal forwarding, the exit status, and --check.
//!
//! Between fork and exec the child makes raw system calls only (no libc locks that
//! another thread might have held), and none of them is one the filter traps.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const seccomp_abi = linux.SECCOMP;
const filter = @import("filter.zig");
const sys = @import("../sys.zig");

pub const Started = struct {
    pid: linux.pid_t,
    pidfd: linux.fd_t,
    listener: linux.fd_t,
    /// signalfd of the signals forwarded to the program.
    signals: linux.fd_t,
};

const Stage = enum(u8) { ok = 0, no_new_privs = 1, install = 2, send = 3, exec = 4 };

/// What the child reports over the socketpair: a stage and an errno.
const Report = extern struct { stage: u8, pad: [3]u8 = @splat(0), errno: u32 };

var failure_stage: Stage = .ok;
var failure_errno: linux.E = .SUCCESS;

/// Sent to the supervisor's pid, these go on to the program. Job control (TSTP, CONT)
/// keeps its default: a ^Z stops the whole process group, supervisor included.
const forwarded_signals = [_]linux.SIG{ .HUP, .INT, .QUIT, .TERM, .USR1, .USR2, .WINCH };
/// si_code of signals the kernel sends, as the terminal's to its foreground group: the
/// program, in the same group, has its own already.
const si_kernel: i32 = 0x80;

fn forwarded_set() linux.sigset_t {
    var set = linux.sigemptyset();
    for (forwarded_signals) |signal| linux.sigaddset(&set, signal);
    return set;
}

pub const StartError = error{ Fork, Install, Exec };

/// Forks, sets up the child under program_filter and execs path; returns once the
/// program runs (its first trapped call may already wait for an answer).
pub fn start(
    path: [*:0]const u8,
    argv: [*:null]const ?[*:0]const u8,
    envp: [*:null]const ?[*:0]const u8,
    program_filter: *const filter.Filter,
) StartError!Started {
    var pair: [2]linux.fd_t = undefined;
    const seqpacket = linux.SOCK.SEQPACKET | linux.SOCK.CLOEXEC;
    if (linux.errno(linux.socketpair(linux.AF.UNIX, seqpacket, 0, &pair)) != .SUCCESS) return error.Fork;
    const set = forwarded_set();
    var old_mask: linux.sigset_t = undefined;
    _ = linux.sigprocmask(linux.SIG.BLOCK, &set, &old_mask);
    const forked = linux.fork();
    if (linux.errno(forked) != .SUCCESS) return error.Fork;
    if (forked == 0) {
        _ = linux.close(pair[0]);
        _ = linux.sigprocmask(linux.SIG.SETMASK, &old_mask, null);
        child(pair[1], path, argv, envp, program_filter);
    }
    const pid: linux.pid_t = @intCast(forked);
    _ = linux.close(pair[1]);
    defer _ = linux.close(pair[0]);
    const listener = receive_listener(pair[0]) orelse {
        reap_failed(pid);
        return error.Install;
    };
    // The next report is the exec's: end of file when it succeeded (close-on-exec).
    var report: Report = undefined;
    const got = linux.recvfrom(pair[0], std.mem.asBytes(&report), @sizeOf(Report), 0, null, null);
    if (linux.errno(got) == .SUCCESS and got == @sizeOf(Report)) {
        failure_stage = @fromBackingInt(@intCast(report.stage));
        failure_errno = @fromBackingInt(@intCast(report.errno));
        _ = linux.close(listener);
        reap_failed(pid);
        return error.Exec;
    }
    const pidfd = linux.pidfd_open(pid, 0);
    const signals = linux.signalfd(-1, &set, linux.SFD.CLOEXEC);
    assert(linux.errno(pidfd) == .SUCCESS);
    assert(linux.errno(signals) == .SUCCESS);
    return .{ .pid = pid, .pidfd = @intCast(pidfd), .listener = listener, .signals = @intCast(signals) };
}

fn reap_failed(pid: linux.pid_t) void {
    var status: i32 = 0;
    _ = linux.wait4(pid, &status, 0, null);
}

/// The listener the child sent, or null (failure_stage/failure_errno say why).
fn receive_listener(socket: linux.fd_t) ?linux.fd_t {
    var report: Report = undefined;
    var iov = [1]std.posix.iovec{.{ .base = std.mem.asBytes(&report), .len = @sizeOf(Report) }};
    var control: [64]u8 align(8) = undefined;
    var message: linux.msghdr = .{
        .name = null,
        .namelen = 0,
        .iov = &iov,
        .iovlen = 1,
        .control = &control,
        .controllen = control.len,
        .flags = 0,
    };
    const got = linux.recvmsg(socket, &message, linux.MSG.CMSG_CLOEXEC);
    if (linux.errno(got) != .SUCCESS or got != @sizeOf(Report)) {
        failure_stage = .send;
        failure_errno = .PIPE;
        return null;
    }
    if (report.stage != @backingInt(Stage.ok)) {
        failure_stage = @fromBackingInt(@intCast(report.stage));
        failure_errno = @fromBackingInt(@intCast(report.errno));
        return null;
    }
    if (message.controllen < @sizeOf(linux.cmsghdr) + @sizeOf(i32)) {
        failure_stage = .send;
        failure_errno = .PIPE;
        return null;
    }
    const header: *const linux.cmsghdr = @ptrCast(&control);
    assert(header.level == linux.SOL.SOCKET);
    return std.mem.readInt(i32, control[@sizeOf(linux.cmsghdr)..][0..4], .native);
}

fn report_failure(socket: linux.fd_t, stage: Stage, rc: usize) noreturn {
    const report: Report = .{ .stage = @backingInt(stage), .errno = @backingInt(linux.errno(rc)) };
    _ = linux.sendto(socket, std.mem.asBytes(&report), @sizeOf(Report), 0, null, 0);
    linux.exit_group(if (stage == .exec) 127 else 1);
}

/// The child between fork and exec.
fn child(
    socket: linux.fd_t,
    path: [*:0]const u8,
    argv: [*:null]const ?[*:0]const u8,
    envp: [*:null]const ?[*:0]const u8,
    program_filter: *const filter.Filter,
) noreturn {
    const listener = install(socket, program_filter);
    send_listener(socket, listener);
    _ = linux.close(listener);
    const rc = linux.execve(path, argv, envp);
    report_failure(socket, .exec, rc);
}

/// no_new_privs and the filter with a listener; failures are reported and end the child.
fn install(socket: linux.fd_t, program_filter: *const filter.Filter) linux.fd_t {
    const privs = linux.prctl(@backingInt(linux.PR.SET_NO_NEW_PRIVS), 1, 0, 0, 0);
    if (linux.errno(privs) != .SUCCESS) report_failure(socket, .no_new_privs, privs);
    const program = program_filter.program();
    const rc = linux.seccomp(seccomp_abi.SET_MODE_FILTER, seccomp_abi.FILTER_FLAG.NEW_LISTENER, &program);
    if (linux.errno(rc) != .SUCCESS) report_failure(socket, .install, rc);
    return @intCast(rc);
}

fn send_listener(socket: linux.fd_t, listener: linux.fd_t) void {
    const report: Report = .{ .stage = @backingInt(Stage.ok), .errno = 0 };
    const iov = [1]std.posix.iovec_const{.{ .base = std.mem.asBytes(&report), .len = @sizeOf(Report) }};
    var control: [@sizeOf(linux.cmsghdr) + 8]u8 align(8) = @splat(0);
    const header: *linux.cmsghdr = @ptrCast(&control);
    header.* = .{ .len = @sizeOf(linux.cmsghdr) + @sizeOf(i32), .level = linux.SOL.SOCKET, .type = 1 }; // SCM_RIGHTS
    std.mem.writeInt(i32, control[@sizeOf(linux.cmsghdr)..][0..4], listener, .native);
    const message: linux.msghdr_const = .{
        .name = null,
        .namelen = 0,
        .iov = &iov,
        .iovlen = 1,
        .control = &control,
        .controllen = control.len,
        .flags = 0,
    };
    const rc = linux.sendmsg(socket, &message, 0);
    if (linux.errno(rc) != .SUCCESS) report_failure(socket, .send, rc);
}

/// Why start() failed, for one line.
pub fn failure_text() []const u8 {
    return switch (failure_stage) {
        .ok => "unknown failure",
        .no_new_privs => "cannot set no_new_privs",
        .install => switch (failure_errno) {
            .BUSY => "it already runs under a seccomp notification listener (nested supervision)",
            .INVAL => "this kernel lacks seccomp user notification (Linux 5.9+ needed)",
            .ACCES, .PERM => "seccomp() is forbidden here (a sandbox's own filter refuses it)",
            .NOSYS => "seccomp is switched off in this kernel",
            .FAULT => "the filter was refused",
            else => "the seccomp filter could not be installed",
        },
        .send => "the supervised child did not hand over its listener",
        .exec => switch (failure_errno) {
            .NOENT => "No such file or directory",
            .ACCES => "Permission denied",
            .NOEXEC => "Exec format error",
            .NOMEM => "Out of memory",
            .@"2BIG" => "Argument list too long",
            else => "exec failed",
        },
    };
}

/// The exit status for an exec failure, as shells use: 127 not found, 126 otherwise.
pub fn exec_status() c_int {
    return if (failure_errno == .NOENT) 127 else 126;
}

/// Reads one pending signal and sends it to the program, unless the kernel sent it to
/// the whole process group.
pub fn forward_signal(started: Started) void {
    var info: linux.signalfd_siginfo = undefined;
    const got = linux.read(started.signals, std.mem.asBytes(&info), @sizeOf(linux.signalfd_siginfo));
    if (linux.errno(got) != .SUCCESS or got != @sizeOf(linux.signalfd_siginfo)) return;
    if (info.code == si_kernel) return;
    _ = linux.kill(started.pid, @fromBackingInt(@intCast(info.signo)));
}

/// Reaps the program and returns its status; a program killed by a signal takes the
/// supervisor down with the same signal.
pub fn finish(started: Started) c_int {
    var status: i32 = 0;
    while (true) {
        const rc = linux.wait4(started.pid, &status, 0, null);
        if (linux.errno(rc) != .INTR) break;
    }
    const signal = status & 0x7f;
    if (signal == 0) return @intCast((status >> 8) & 0xff);
    const sig: linux.SIG = @fromBackingInt(@intCast(signal));
    // SIGKILL (and SIGSTOP) cannot be caught or blocked: no action to reset (std's
    // sigaction asserts that), it just kills.
    if (sig != linux.SIG.KILL and sig != linux.SIG.STOP) {
        var action = std.mem.zeroes(linux.Sigaction);
        action.handler = .{ .handler = linux.SIG.DFL };
        _ = linux.sigaction(sig, &action, null);
        var set = linux.sigemptyset();
        linux.sigaddset(&set, sig);
        _ = linux.sigprocmask(linux.SIG.UNBLOCK, &set, null);
    }
    _ = linux.kill(linux.getpid(), sig);
    return @intCast(128 + signal);
}

/// Null when supervision works here, else why not: the kernel's version (ADDFD with
/// SEND needs 5.14), the action being available, and a trial install in a child.
pub fn check() ?[]const u8 {
    var uts: linux.utsname = undefined;
    _ = linux.uname(&uts);
    const release = std.mem.sliceTo(&uts.release, 0);
    if (!kernel_at_least(release, 5, 14)) return "Linux 5.14 or newer is needed (this is an older kernel)";
    var action: u32 = seccomp_abi.RET.USER_NOTIF;
    const available = linux.seccomp(seccomp_abi.GET_ACTION_AVAIL, 0, &action);
    switch (linux.errno(available)) {
        .SUCCESS => {},
        .NOSYS => return "seccomp is switched off in this kernel",
        .OPNOTSUPP => return "this kernel lacks seccomp user notification",
        else => return "seccomp() is forbidden here (a sandbox's own filter refuses it)",
    }
    const trial = filter.build(filter.native_arch, .{ .names = false, .listening = false });
    var pair: [2]linux.fd_t = undefined;
    const seqpacket = linux.SOCK.SEQPACKET | linux.SOCK.CLOEXEC;
    if (linux.errno(linux.socketpair(linux.AF.UNIX, seqpacket, 0, &pair)) != .SUCCESS) return "socketpair failed";
    const forked = linux.fork();
    if (linux.errno(forked) != .SUCCESS) return "fork failed";
    if (forked == 0) {
        _ = linux.close(pair[0]);
        const listener = install(pair[1], &trial);
        send_listener(pair[1], listener);
        linux.exit_group(0);
    }
    _ = linux.close(pair[1]);
    defer _ = linux.close(pair[0]);
    const listener = receive_listener(pair[0]);
    reap_failed(@intCast(forked));
    if (listener) |fd| {
        _ = linux.close(fd);
        return null;
    }
    return failure_text();
}

fn kernel_at_least(release: []const u8, major: u32, minor: u32) bool {
    var parts = std.mem.tokenizeAny(u8, release, ".-");
    const have_major = std.fmt.parseUnsigned(u32, parts.next() orelse return false, 10) catch return false;
    const have_minor = std.fmt.parseUnsigned(u32, parts.next() orelse return false, 10) catch return false;
    return have_major > major or (have_major == major and have_minor >= minor);
}

/// Finds name the way execvp would: as given when it has a slash, else on PATH.
pub fn find_command(name: []const u8, out: *[4097]u8) ?[*:0]const u8 {
    if (name.len == 0 or name.len >= out.len) return null;
    if (std.mem.findScalar(u8, name, '/') != null) {
        @memcpy(out[0..name.len], name);
        out[name.len] = 0;
        return @ptrCast(out);
    }
    const path_env = if (sys.getenv("PATH")) |value| std.mem.span(value) else "/usr/local/bin:/usr/bin:/bin";
    var dirs = std.mem.splitScalar(u8, path_env, ':');
    while (dirs.next()) |raw_dir| {
        const dir = if (raw_dir.len == 0) "." else raw_dir;
        const len = dir.len + 1 + name.len;
        if (len >= out.len) continue;
        @memcpy(out[0..dir.len], dir);
        out[dir.len] = '/';
        @memcpy(out[dir.len + 1 .. len], name);
        out[len] = 0;
        const candidate: [*:0]const u8 = @ptrCast(out);
        if (linux.errno(linux.faccessat(linux.AT.FDCWD, candidate, 1, 0)) == .SUCCESS) return candidate;
    }
    return null;
}

test "kernel releases compare by major and minor" {
    try std.testing.expect(kernel_at_least("6.18.44-fc-v1300", 5, 14));
    try std.testing.expect(kernel_at_least("5.14.0-284.el9.x86_64", 5, 14));
    try std.testing.expect(!kernel_at_least("5.10.0-28-amd64", 5, 14));
    try std.testing.expect(!kernel_at_least("4.18.0", 5, 14));
    try std.testing.expect(!kernel_at_least("garbage", 5, 14));
}

test "commands are found on PATH or taken as given" {
    var out: [4097]u8 = undefined;
    try std.testing.expectEqualStrings("/x/y", std.mem.span(find_command("/x/y", &out).?));
    try std.testing.expect(find_command("sh", &out) != null);
    try std.testing.expect(find_command("globus-streams-surely-not-installed-here", &out) == null);
}
