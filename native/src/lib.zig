//! libglobus_streams_client.so.0: the preload library of Globus Streams.
//!
//! It stands in front of connection set-up only (getaddrinfo, gethostbyname*, connect,
//! bind, accept, accept4), never read or write: after connect() or accept() returns, the
//! program's bytes flow on its own socket untouched. One file per intercepted family;
//! the shared code has no hooks. See README.md beside build.zig.

comptime {
    _ = @import("getaddrinfo.zig");
    _ = @import("connect.zig");
    _ = @import("bind_accept.zig");
}

const std = @import("std");

/// A library inside someone else's process: no per-thread alternate signal stack (std's
/// default is 256 KiB of static TLS per thread, enough to break pthread_create in
/// programs that ask for small stacks, such as Node), and no segfault handler of ours.
pub const std_options: std.Options = .{
    .signal_stack_size = null,
    .enable_segfault_handler = false,
};
