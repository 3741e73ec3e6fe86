//! GSA1 against tests/handshake/gsa1_vectors.json, the vectors the TypeScript side also
//! reads (made by an independent Python generator). The path comes from build.zig.

const std = @import("std");
const streams = @import("streams");
const gsa1 = streams.gsa1;
const names = streams.names;
const build_options = @import("build_options");
const testing = std.testing;

const Vector = struct {
    name: []const u8,
    secret: []const u8,
    tunnel_id: []const u8,
    secret_id: ?[]const u8,
    nc_hex: []const u8,
    nr_hex: []const u8,
    hello_hex: []const u8,
    tr_hex: []const u8,
    proof_hex: []const u8,
    tc_hex: []const u8,
    verdict_ok_hex: []const u8,
};

const Invalid = struct {
    name: []const u8,
    message: []const u8,
    bytes_hex: []const u8,
    expect: ?[]const u8 = null,
};

const Vectors = struct {
    sizes: struct { hello: usize, proof: usize, verdict: usize },
    verdict_status: struct {
        accepted: u8,
        unknown_tunnel: u8,
        bad_proof: u8,
        secret_expired: u8,
        refused: u8,
    },
    vectors: []const Vector,
    invalid: []const Invalid,
};

fn load() !std.json.Parsed(Vectors) {
    const text = try std.Io.Dir.cwd().readFileAlloc(
        testing.io,
        build_options.vectors_path,
        testing.allocator,
        .limited(1 << 20),
    );
    defer testing.allocator.free(text);
    return std.json.parseFromSlice(Vectors, testing.allocator, text, .{
        .ignore_unknown_fields = true,
        .allocate = .alloc_always,
    });
}

fn hex(comptime len: usize, text: []const u8) ![len]u8 {
    var out: [len]u8 = undefined;
    const decoded = try std.fmt.hexToBytes(&out, text);
    try testing.expectEqual(len, decoded.len);
    return out;
}

fn hex_slice(buffer: []u8, text: []const u8) ![]u8 {
    return std.fmt.hexToBytes(buffer, text);
}

test "GSA1 sizes and statuses match the shared vectors" {
    const parsed = try load();
    defer parsed.deinit();
    const v = parsed.value;
    try testing.expectEqual(gsa1.hello_size, v.sizes.hello);
    try testing.expectEqual(gsa1.proof_size, v.sizes.proof);
    try testing.expectEqual(gsa1.verdict_size, v.sizes.verdict);
    try testing.expectEqual(@backingInt(gsa1.Status.accepted), v.verdict_status.accepted);
    try testing.expectEqual(
        @backingInt(gsa1.Status.unknown_tunnel),
        v.verdict_status.unknown_tunnel,
    );
    try testing.expectEqual(@backingInt(gsa1.Status.bad_proof), v.verdict_status.bad_proof);
    try testing.expectEqual(
        @backingInt(gsa1.Status.secret_expired),
        v.verdict_status.secret_expired,
    );
    try testing.expectEqual(@backingInt(gsa1.Status.refused), v.verdict_status.refused);
}

test "GSA1 reproduces every shared vector byte for byte" {
    const parsed = try load();
    defer parsed.deinit();
    try testing.expect(parsed.value.vectors.len >= 4);
    for (parsed.value.vectors) |vector| {
        errdefer std.debug.print("vector \"{s}\"\n", .{vector.name});
        const tunnel = (names.TunnelId.parse(vector.tunnel_id) orelse return error.BadVector).bytes;
        const no_id: gsa1.Id = @splat(0);
        const secret_id = if (vector.secret_id) |text| names.parse_uuid(text) orelse
            return error.BadVector else no_id;
        const nc = try hex(32, vector.nc_hex);
        const nr = try hex(32, vector.nr_hex);
        const hello = gsa1.hello_encode(&nc);
        try testing.expectEqualSlices(u8, &(try hex(gsa1.hello_size, vector.hello_hex)), &hello);
        try testing.expectEqualSlices(u8, &nc, &(try gsa1.hello_decode(&hello)));
        const tr = gsa1.responder_tag(vector.secret, &tunnel, &secret_id, &nc, &nr);
        try testing.expectEqualSlices(u8, &(try hex(32, vector.tr_hex)), &tr);
        const proof_bytes = gsa1.proof_encode(vector.secret, &tunnel, &secret_id, &nc, &nr);
        try testing.expectEqualSlices(
            u8,
            &(try hex(gsa1.proof_size, vector.proof_hex)),
            &proof_bytes,
        );
        const proof = try gsa1.proof_decode(&proof_bytes);
        try testing.expectEqual(
            gsa1.Status.accepted,
            gsa1.proof_judge(vector.secret, &tunnel, &proof, &nc),
        );
        const tc = gsa1.challenger_tag(vector.secret, &tunnel, &secret_id, &nr, &nc);
        try testing.expectEqualSlices(u8, &(try hex(32, vector.tc_hex)), &tc);
        const verdict_bytes = gsa1.verdict_encode(.accepted, vector.secret, &proof, &nc);
        try testing.expectEqualSlices(
            u8,
            &(try hex(gsa1.verdict_size, vector.verdict_ok_hex)),
            &verdict_bytes,
        );
        const verdict = try gsa1.verdict_decode(&verdict_bytes);
        try testing.expectEqual(
            gsa1.VerdictJudgement.accepted,
            gsa1.verdict_judge(vector.secret, &tunnel, &secret_id, &nr, &nc, &verdict),
        );
        try testing.expectEqual(
            gsa1.VerdictJudgement.bad_tag,
            gsa1.verdict_judge("wrong", &tunnel, &secret_id, &nr, &nc, &verdict),
        );
    }
}

test "GSA1 rejects every invalid message of the shared vectors" {
    const parsed = try load();
    defer parsed.deinit();
    const good = parsed.value.vectors[0];
    const tunnel = names.TunnelId.parse(good.tunnel_id).?.bytes;
    const secret_id = names.parse_uuid(good.secret_id.?).?;
    const nc = try hex(32, good.nc_hex);
    const nr = try hex(32, good.nr_hex);
    try testing.expect(parsed.value.invalid.len >= 9);
    for (parsed.value.invalid) |case| {
        errdefer std.debug.print("invalid case \"{s}\"\n", .{case.name});
        var buffer: [256]u8 = undefined;
        const bytes = try hex_slice(&buffer, case.bytes_hex);
        const expect = case.expect orelse "";
        if (std.mem.eql(u8, case.message, "hello")) {
            try testing.expect(std.meta.isError(gsa1.hello_decode(bytes)));
        } else if (std.mem.eql(u8, case.message, "proof")) {
            const decoded = gsa1.proof_decode(bytes);
            if (std.mem.eql(u8, expect, "bad_proof")) {
                const proof = try decoded;
                try testing.expectEqual(
                    gsa1.Status.bad_proof,
                    gsa1.proof_judge(good.secret, &tunnel, &proof, &nc),
                );
            } else {
                try testing.expect(std.meta.isError(decoded));
            }
        } else if (std.mem.eql(u8, case.message, "verdict")) {
            const decoded = gsa1.verdict_decode(bytes);
            if (std.mem.eql(u8, expect, "bad_tag")) {
                const verdict = try decoded;
                try testing.expectEqual(
                    gsa1.VerdictJudgement.bad_tag,
                    gsa1.verdict_judge(good.secret, &tunnel, &secret_id, &nr, &nc, &verdict),
                );
            } else {
                try testing.expect(std.meta.isError(decoded));
            }
        } else {
            return error.UnknownMessageKind;
        }
    }
}
