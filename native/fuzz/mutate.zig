//! A deterministic mutator for the bounded fuzz loop (fuzz.zig): stacks one to four
//! byte-level mutations (flip, replace, insert, delete, duplicate, splice with another
//! corpus entry, insert a dictionary token) on a seed input, with a seeded PRNG, so a
//! run is reproduced exactly by its seed and iteration count.

const std = @import("std");
const assert = std.debug.assert;

/// Longest input the mutator builds: above the answer parser's 8192-byte limit, so
/// overlong inputs are reached too.
pub const input_bytes_max = 9000;
const stack_max = 4;

/// Bytes that steer parsers of separators and numbers.
const interesting_bytes = [_]u8{ 0, 0xff, 0x7f, 0x80, '\n', '\r', '=', ':', '[', ']', '.', '-', ' ', '0', '9' };

pub const Mutator = struct {
    prng: std.Random.DefaultPrng,
    /// Tokens worth inserting whole (keys, separators, edge numbers).
    dictionary: []const []const u8,
    buffer: [input_bytes_max]u8 = undefined,
    len: usize = 0,

    pub fn init(seed: u64, dictionary: []const []const u8) Mutator {
        return .{ .prng = .init(seed), .dictionary = dictionary };
    }

    /// A new input made from seed (and maybe other, for splicing); valid until the next call.
    pub fn next(m: *Mutator, seed: []const u8, other: []const u8) []const u8 {
        const random = m.prng.random();
        m.len = @min(seed.len, input_bytes_max);
        @memcpy(m.buffer[0..m.len], seed[0..m.len]);
        const rounds = 1 + random.uintLessThan(usize, stack_max);
        for (0..rounds) |_| m.mutate_once(other);
        assert(m.len <= input_bytes_max);
        return m.buffer[0..m.len];
    }

    fn mutate_once(m: *Mutator, other: []const u8) void {
        const random = m.prng.random();
        switch (random.uintLessThan(u8, 10)) {
            0 => if (m.len > 0) {
                m.buffer[m.position()] ^= @as(u8, 1) << random.int(u3);
            },
            1 => if (m.len > 0) {
                m.buffer[m.position()] = random.int(u8);
            },
            2 => if (m.len > 0) {
                m.buffer[m.position()] = interesting_bytes[random.uintLessThan(usize, interesting_bytes.len)];
            },
            3 => m.insert(&.{random.int(u8)}),
            4 => m.delete(),
            5 => m.duplicate(),
            6 => if (m.dictionary.len > 0) {
                m.insert(m.dictionary[random.uintLessThan(usize, m.dictionary.len)]);
            },
            7 => m.splice(other),
            8 => if (m.len > 0) {
                m.len = random.uintLessThan(usize, m.len);
            },
            else => m.grow(),
        }
    }

    /// A position inside the input; the input is not empty.
    fn position(m: *Mutator) usize {
        assert(m.len > 0);
        return m.prng.random().uintLessThan(usize, m.len);
    }

    fn insert(m: *Mutator, bytes: []const u8) void {
        if (m.len + bytes.len > input_bytes_max) return;
        const at = m.prng.random().uintAtMost(usize, m.len);
        std.mem.copyBackwards(u8, m.buffer[at + bytes.len .. m.len + bytes.len], m.buffer[at..m.len]);
        @memcpy(m.buffer[at .. at + bytes.len], bytes);
        m.len += bytes.len;
    }

    fn delete(m: *Mutator) void {
        if (m.len == 0) return;
        const random = m.prng.random();
        const at = random.uintLessThan(usize, m.len);
        const count = 1 + random.uintLessThan(usize, @min(m.len - at, 32));
        std.mem.copyForwards(u8, m.buffer[at .. m.len - count], m.buffer[at + count .. m.len]);
        m.len -= count;
    }

    fn duplicate(m: *Mutator) void {
        if (m.len == 0) return;
        const random = m.prng.random();
        const at = random.uintLessThan(usize, m.len);
        const count = 1 + random.uintLessThan(usize, @min(m.len - at, 64));
        var copy: [64]u8 = undefined;
        @memcpy(copy[0..count], m.buffer[at .. at + count]);
        m.insert(copy[0..count]);
    }

    /// Replaces the tail after a random point with the tail of another corpus entry.
    fn splice(m: *Mutator, other: []const u8) void {
        if (other.len == 0) return;
        const random = m.prng.random();
        const at = random.uintAtMost(usize, m.len);
        const from = random.uintLessThan(usize, other.len);
        const count = @min(other.len - from, input_bytes_max - at);
        @memcpy(m.buffer[at .. at + count], other[from .. from + count]);
        m.len = at + count;
    }

    /// Appends a run of one byte, sometimes long enough to pass a parser's limits.
    fn grow(m: *Mutator) void {
        const random = m.prng.random();
        const want: usize = if (random.boolean()) random.uintAtMost(usize, 64) else random.uintAtMost(usize, input_bytes_max);
        const count = @min(want, input_bytes_max - m.len);
        const byte = if (random.boolean()) random.int(u8) else interesting_bytes[random.uintLessThan(usize, interesting_bytes.len)];
        @memset(m.buffer[m.len .. m.len + count], byte);
        m.len += count;
    }
};

const testing = std.testing;

test "the mutator is deterministic for a seed and stays within its bound" {
    const dictionary = [_][]const u8{ "fake_port=", "\n" };
    var a = Mutator.init(42, &dictionary);
    var b = Mutator.init(42, &dictionary);
    var changed: usize = 0;
    for (0..2000) |_| {
        const x = a.next("connector_contact_string=127.0.0.1:1\n", "fake_port=9\n");
        const y = b.next("connector_contact_string=127.0.0.1:1\n", "fake_port=9\n");
        try testing.expectEqualSlices(u8, x, y);
        try testing.expect(x.len <= input_bytes_max);
        if (!std.mem.eql(u8, x, "connector_contact_string=127.0.0.1:1\n")) changed += 1;
    }
    try testing.expect(changed > 1500);
    const empty = a.next("", "");
    try testing.expect(empty.len <= input_bytes_max);
}
