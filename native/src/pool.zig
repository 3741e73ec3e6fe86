//! Synthetic addresses: what a tunnel name resolves to.
//!
//! `globus.<tunnel id>` and the --host names resolve to an address of the pool
//! 127.77.83.0/24 (an AF_INET6 caller gets its v4-mapped form), slot k meaning the k-th
//! tunnel this process named, for the life of the process. An address of the pool means
//! that tunnel and nothing else: connect() to it, on any port, goes into the tunnel or
//! fails; it never passes through. The access point's real address stays inside the
//! library. Loopback, so that an address carried to a process without the library
//! (a static child, say) stays on this host instead of leaving it in clear; torsocks
//! keeps its onion pool on loopback for the same reason.
//!
//! Slots are never reused: a process that named more than slots_max tunnels gets no
//! address for the next one. A forked child inherits the table; an exec'd one starts
//! afresh and resolves its names again.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const sync = @import("sync.zig");
const names = @import("names.zig");
const contact = @import("contact.zig");

/// 127.77.83.0/24: ".M.S" for "Mapped Streams".
pub const prefix = [3]u8{ 127, 77, 83 };
pub const slots_max = 64;

comptime {
    assert(slots_max >= 1);
    assert(slots_max <= 254); // .0 and .255 are never handed out.
}

var ids: [slots_max]names.TunnelId = undefined;
var used: u8 = 0;
pub var lock: sync.Lock = .{};

/// The pool address of tunnel id (port 0), taking a new slot the first time; null when
/// every slot is taken.
pub fn address_for(id: *const names.TunnelId) ?contact.Address {
    lock.lock();
    defer lock.unlock();
    assert(used <= slots_max);
    for (ids[0..used], 0..) |*known, slot| {
        if (known.eql(id)) return address_of(@intCast(slot));
    }
    if (used == slots_max) return null;
    ids[used] = id.*;
    used += 1;
    return address_of(used - 1);
}

/// Whether address (IPv4, or v4-mapped IPv6) is in the pool, handed out or not.
pub fn contains(address: contact.Address) bool {
    const plain = address.unmapped();
    if (plain.family != sys.AF_INET) return false;
    return std.mem.eql(u8, plain.ip[0..3], &prefix);
}

/// The tunnel a pool address was handed out for; null for an address outside the pool
/// or a slot this process never handed out.
pub fn tunnel_of(address: contact.Address) ?names.TunnelId {
    if (!contains(address)) return null;
    const last = address.unmapped().ip[3];
    if (last == 0) return null;
    const slot: usize = last - 1;
    lock.lock();
    defer lock.unlock();
    if (slot >= used) return null;
    return ids[slot];
}

fn address_of(slot: u8) contact.Address {
    assert(slot < slots_max);
    var address: contact.Address = .{ .family = sys.AF_INET, .ip = @splat(0), .port = 0 };
    @memcpy(address.ip[0..3], &prefix);
    address.ip[3] = slot + 1;
    return address;
}

/// Forgets every slot; for tests.
pub fn reset_for_test() void {
    lock.lock();
    defer lock.unlock();
    used = 0;
}

const testing = std.testing;

test "each tunnel gets its own pool address, for good, and only pool addresses map back" {
    reset_for_test();
    const a = names.TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;
    const b = names.TunnelId.parse("00000000-0000-4000-8000-000000000001").?;
    const address_a = address_for(&a).?;
    const address_b = address_for(&b).?;
    try testing.expect(!address_a.same_ip(address_b));
    try testing.expect(address_for(&a).?.same_ip(address_a));
    try testing.expect(contains(address_a));
    try testing.expect(tunnel_of(address_a).?.eql(&a));
    try testing.expect(tunnel_of(address_b).?.eql(&b));

    // The v4-mapped form, any port, means the same tunnel.
    var mapped = contact.Address.from_text("::ffff:127.77.83.2", 8080).?;
    try testing.expect(tunnel_of(mapped).?.eql(&b));
    // In the pool but never handed out: no tunnel, yet still the pool's (never passes).
    mapped = contact.Address.from_text("127.77.83.200", 80).?;
    try testing.expect(contains(mapped));
    try testing.expect(tunnel_of(mapped) == null);
    try testing.expect(tunnel_of(contact.Address.from_text("127.77.83.0", 80).?) == null);
    try testing.expect(!contains(contact.Address.from_text("127.77.84.1", 80).?));
    try testing.expect(!contains(contact.Address.from_text("::1", 80).?));
}

test "a full pool gives no address rather than reusing a slot" {
    reset_for_test();
    var text: [36]u8 = "00000000-0000-4000-8000-000000000000".*;
    for (0..slots_max + 1) |index| {
        text[33] = "0123456789abcdef"[index / 256 % 16];
        text[34] = "0123456789abcdef"[index / 16 % 16];
        text[35] = "0123456789abcdef"[index % 16];
        const id = names.TunnelId.parse(&text).?;
        const address = address_for(&id);
        if (index < slots_max) {
            try testing.expect(address != null);
        } else {
            try testing.expect(address == null);
        }
    }
    reset_for_test();
}
