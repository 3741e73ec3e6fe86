//! Root of `zig build test`: the code without hooks, tested in-process. The hooks are
//! driven with real programs by tests/native/ (TypeScript).

test {
    _ = @import("names.zig");
    _ = @import("contact.zig");
    _ = @import("answer.zig");
    _ = @import("environment.zig");
    _ = @import("log.zig");
    _ = @import("fd_table.zig");
    _ = @import("pool.zig");
    _ = @import("wakes.zig");
    _ = @import("pending.zig");
    _ = @import("gsa1.zig");
    _ = @import("handshake.zig");
    _ = @import("cache.zig");
    _ = @import("lookup.zig");
}
