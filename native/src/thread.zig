//! Detached threads of this library inside the host program.
//!
//! They start with every signal blocked (the mask is inherited from the creating
//! thread, which blocks everything just around pthread_create), so a signal meant for
//! the program is never delivered to a thread of ours, and with a small stack. A
//! program whose static TLS does not fit that stack makes pthread_create refuse it
//! (EINVAL); the thread is then made with the default stack size.

const std = @import("std");
const sys = @import("sys.zig");

pub const stack_bytes = 256 * 1024;

pub const Start = *const fn (?*anyopaque) callconv(.c) ?*anyopaque;

/// Starts start(arg) on a detached thread; false when the thread could not be made.
pub fn spawn_detached(start: Start, arg: ?*anyopaque) bool {
    var all: sys.sigset_t = .{};
    var old: sys.sigset_t = .{};
    _ = sys.sigfillset(&all);
    if (sys.pthread_sigmask(sys.SIG_SETMASK, &all, &old) != 0) return false;
    defer _ = sys.pthread_sigmask(sys.SIG_SETMASK, &old, null);
    if (create(start, arg, stack_bytes)) return true;
    return create(start, arg, null);
}

fn create(start: Start, arg: ?*anyopaque, stack: ?usize) bool {
    var attr: sys.pthread_attr_t = .{};
    if (sys.pthread_attr_init(&attr) != 0) return false;
    defer _ = sys.pthread_attr_destroy(&attr);
    if (stack) |size| {
        if (sys.pthread_attr_setstacksize(&attr, size) != 0) return false;
    }
    if (sys.pthread_attr_setdetachstate(&attr, sys.PTHREAD_CREATE_DETACHED) != 0) return false;
    var thread: sys.pthread_t = 0;
    return sys.pthread_create(&thread, &attr, start, arg) == 0;
}
