//! One-time set-up on the first hook call (pthread_once): libc symbols, debug settings,
//! the environment, and fork handlers for every lock this library holds.

const std = @import("std");
const sys = @import("sys.zig");
const real = @import("real.zig");
const log = @import("log.zig");
const conf = @import("environment.zig");
const cache = @import("cache.zig");
const fd_table = @import("fd_table.zig");
const lookup = @import("lookup.zig");
const finisher = @import("finisher.zig");
const pool = @import("pool.zig");

/// Bounds the walk over environ.
const environ_entries_max = 1 << 16;

var once: sys.pthread_once_t = 0;

/// Every hook calls this first.
pub fn ensure() void {
    _ = sys.pthread_once(&once, init_once);
}

fn init_once() callconv(.c) void {
    const saved_errno = sys.errno();
    defer sys.__errno_location().* = saved_errno;
    log.init();
    real.resolve();
    load_environment();
    lookup.save_environment();
    // The launcher's tunnel takes the pool's first address in every process it starts,
    // so an address resolved by one and used by an exec'd child still means it.
    if (conf.global.tunnel) |*id| _ = pool.address_for(id);
    _ = sys.pthread_atfork(fork_prepare, fork_parent, fork_child);
}

fn load_environment() void {
    const environ = sys.environ orelse return;
    var index: usize = 0;
    while (index < environ_entries_max) : (index += 1) {
        const entry = environ[index] orelse break;
        conf.global.apply(std.mem.span(entry));
    }
    const global = &conf.global;
    if (global.intercepts_dropped > 0) {
        log.line(
            .init,
            "ignored {d} GLOBUS_STREAMS_INTERCEPT_PORT_* variables (bad port, or more than {d})",
            .{ global.intercepts_dropped, conf.intercepts_max },
        );
    }
    if (sys.getenv("GLOBUS_STREAMS_TUNNEL") != null and global.tunnel == null) {
        log.line(.init, "GLOBUS_STREAMS_TUNNEL is not a tunnel id: ignored", .{});
    }
}

// The table locks are taken around fork() so the child sees consistent tables; nothing
// else holds one of them while taking another. spawn_lock is only reset in the child:
// it is held across posix_spawn, which in old glibc forks and so runs these handlers.
fn fork_prepare() callconv(.c) void {
    cache.fork_prepare();
    fd_table.lock.lock();
    pool.lock.lock();
}

fn fork_parent() callconv(.c) void {
    pool.lock.unlock();
    fd_table.lock.unlock();
    cache.fork_parent();
}

fn fork_child() callconv(.c) void {
    pool.lock.reset();
    fd_table.lock.reset();
    finisher.fork_child();
    cache.fork_child();
    lookup.spawn_lock.reset();
}
