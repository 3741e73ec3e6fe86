//! globus-streams-supervise: runs a program under a seccomp filter whose connection
//! set-up calls this process answers (seccomp user notification, Linux 5.14+), so that
//! programs the preload library cannot reach (static and Go binaries) go through the
//! tunnel too. bin/globus-streams-launch runs it; it reads the same variables as the
//! library (environment.zig).
//!
//!   globus-streams-supervise [--] COMMAND [ARG...]   run COMMAND supervised
//!   globus-streams-supervise --check                 exit 0 when this machine can
//!                                                    (else one line saying why, exit 1)
//!
//! It forks; the child sets no_new_privs, installs the filter (filter.zig) with
//! SECCOMP_FILTER_FLAG_NEW_LISTENER, hands the listener to the parent over a socketpair
//! (SCM_RIGHTS), closes its copy and execs COMMAND. A second child answers the
//! notifications for as long as any supervised process lives; the first process
//! forwards the usual termination signals to COMMAND and exits with its status (a
//! signal that killed it kills the supervisor the same way).

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const sys = @import("sys.zig");
const log = @import("log.zig");
const filter = @import("supervise/filter.zig");
const notify = @import("supervise/notify.zig");
const state = @import("supervise/state.zig");
const tunnels = @import("supervise/tunnels.zig");
const outbound = @import("supervise/outbound.zig");
const hosts = @import("supervise/hosts.zig");
const inbound = @import("supervise/inbound.zig");
const launch = @import("supervise/launch.zig");

const program_name = "globus-streams-supervise";

pub export fn main(argc: c_int, argv: [*:null]?[*:0]u8) callconv(.c) c_int {
    const args: []const ?[*:0]u8 = argv[0..@intCast(argc)];
    var first: usize = 1;
    if (args.len > 1 and std.mem.eql(u8, std.mem.span(args[1].?), "--check")) {
        if (launch.check()) |reason| {
            say("{s}", .{reason});
            return 1;
        }
        return 0;
    }
    if (args.len > 1 and std.mem.eql(u8, std.mem.span(args[1].?), "--")) first = 2;
    if (args.len <= first) {
        say("missing COMMAND to run", .{});
        say("usage: {s} [--] COMMAND [ARG...] | --check", .{program_name});
        return 2;
    }
    return supervise(@ptrCast(argv + first));
}

fn say(comptime format: []const u8, args: anytype) void {
    var buffer: [1024]u8 = undefined;
    const text = std.fmt.bufPrint(&buffer, program_name ++ ": " ++ format ++ "\n", args) catch return;
    _ = linux.write(2, text.ptr, text.len);
}

fn environment() []const [*:0]const u8 {
    const entries = sys.environ orelse return &.{};
    var count: usize = 0;
    while (entries[count] != null) : (count += 1) {}
    return @ptrCast(entries[0..count]);
}

fn supervise(command: [*:null]const ?[*:0]const u8) c_int {
    state.load(environment());
    log.init();
    tunnels.configure(.{
        .bin = state.settings.bin_path(),
        .lookup_timeout_ms = state.settings.lookup_timeout_ms,
    });
    const name = std.mem.span(command[0].?);
    var path_buffer: [4097]u8 = undefined;
    const path = launch.find_command(name, &path_buffer) orelse {
        say("cannot run '{s}': command not found", .{name});
        return 127;
    };
    const program_filter = filter.build(filter.native_arch, .{
        .names = hosts.wanted(),
        .listening = state.settings.intercepts_count > 0,
    });
    const started = launch.start(path, command, @ptrCast(sys.environ.?), &program_filter) catch |err| {
        switch (err) {
            error.Install => say("cannot supervise '{s}': {s}", .{ name, launch.failure_text() }),
            error.Exec => say("cannot run '{s}': {s}", .{ name, launch.failure_text() }),
            error.Fork => say("cannot start '{s}': fork failed", .{name}),
        }
        return if (err == error.Exec) launch.exec_status() else 1;
    };
    log.line(.init, "supervising {s} (pid {d})", .{ name, started.pid });
    // The notifications are answered by a process of their own, which lives as long as
    // any supervised process does (a program that leaves children running in the
    // background, or daemonizes, keeps its supervision); this one waits for the program,
    // forwards signals to it and exits with its status.
    const forked = linux.fork();
    if (linux.errno(forked) != .SUCCESS) {
        say("cannot start '{s}': fork failed", .{name});
        _ = linux.kill(started.pid, .KILL);
        return launch.finish(started);
    }
    if (forked == 0) {
        _ = linux.close(started.pidfd);
        _ = linux.close(started.signals);
        // It writes nothing but debug lines (stderr): it must not hold the program's
        // stdin or stdout open after the program is gone.
        const null_device = linux.openat(linux.AT.FDCWD, "/dev/null", .{ .ACCMODE = .RDWR }, 0);
        if (linux.errno(null_device) == .SUCCESS) {
            _ = linux.dup2(@intCast(null_device), 0);
            _ = linux.dup2(@intCast(null_device), 1);
            if (null_device > 1) _ = linux.close(@intCast(null_device));
        }
        serve(started.listener);
        linux.exit_group(0);
    }
    _ = linux.close(started.listener);
    return wait_for_program(started);
}

/// Answers notifications until no supervised process is left.
fn serve(listener: linux.fd_t) void {
    state.listener = listener;
    var fds = [1]linux.pollfd{.{ .fd = listener, .events = linux.POLL.IN, .revents = 0 }};
    while (true) {
        const rc = linux.poll(&fds, fds.len, -1);
        if (linux.errno(rc) != .SUCCESS) continue;
        if (fds[0].revents & linux.POLL.IN != 0) {
            const received = notify.receive(listener) catch return;
            if (received) |notification| dispatch(notification);
        } else if (fds[0].revents & (linux.POLL.HUP | linux.POLL.ERR) != 0) {
            return;
        }
    }
}

fn wait_for_program(started: launch.Started) c_int {
    var fds = [2]linux.pollfd{
        .{ .fd = started.pidfd, .events = linux.POLL.IN, .revents = 0 },
        .{ .fd = started.signals, .events = linux.POLL.IN, .revents = 0 },
    };
    while (true) {
        const rc = linux.poll(&fds, fds.len, -1);
        if (linux.errno(rc) != .SUCCESS) continue;
        if (fds[1].revents & linux.POLL.IN != 0) launch.forward_signal(started);
        if (fds[0].revents & linux.POLL.IN != 0) return launch.finish(started);
    }
}

fn dispatch(notification: notify.Notification) void {
    const n = filter.numbers(filter.native_arch);
    const nr: u32 = @bitCast(notification.data.nr);
    if (nr == n.connect) return outbound.on_connect(notification);
    if (nr == n.sendto) return outbound.on_fastopen(notification, false);
    if (nr == n.sendmsg) return outbound.on_fastopen(notification, true);
    if (nr == n.accept or nr == n.accept4) return inbound.on_accept(notification);
    if (nr == n.openat or nr == n.openat2 or (n.open != null and nr == n.open.?)) {
        return hosts.on_open(notification);
    }
    notify.answer_continue(state.listener, notification.id);
}
