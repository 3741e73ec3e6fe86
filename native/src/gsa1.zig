//! GSA1, this project's own LAN handshake (shared/design/handshake.md): the messages as
//! pure functions, no I/O. handshake.zig drives them over a socket.
//!
//!   HELLO   challenger -> responder, 37:  "GSA1" | flags (0) | Nc (32)
//!   PROOF   responder -> challenger, 100: "GSA1" | tunnel (16) | secret id (16) | Nr (32)
//!                                          | Tr (32)
//!   VERDICT challenger -> responder, 33:  status (1) | Tc (32, zero unless accepted)
//!
//! Tr = HMAC-SHA256(secret, "GSA1 responder" | tunnel | secret id | Nc | Nr)
//! Tc = HMAC-SHA256(secret, "GSA1 challenger" | tunnel | secret id | Nr | Nc)

const std = @import("std");
const assert = std.debug.assert;
const Hmac = std.crypto.auth.hmac.sha2.HmacSha256;

pub const magic = "GSA1";
pub const nonce_size = 32;
pub const tag_size = Hmac.mac_length;
pub const id_size = 16;
pub const hello_size = magic.len + 1 + nonce_size;
pub const proof_size = magic.len + id_size + id_size + nonce_size + tag_size;
pub const verdict_size = 1 + tag_size;

comptime {
    assert(tag_size == 32);
    assert(hello_size == 37);
    assert(proof_size == 100);
    assert(verdict_size == 33);
}

pub const Nonce = [nonce_size]u8;
pub const Tag = [tag_size]u8;
pub const Id = [id_size]u8;

pub const Status = enum(u8) {
    accepted = 0,
    unknown_tunnel = 1,
    bad_proof = 2,
    secret_expired = 3,
    refused = 4,
};

pub const DecodeError = error{ Truncated, BadMagic, BadFlags, UnknownStatus };

pub const Proof = struct {
    tunnel: Id,
    secret_id: Id,
    nr: Nonce,
    tag: Tag,
};

pub const Verdict = struct {
    status: Status,
    tag: Tag,
};

pub fn hello_encode(nc: *const Nonce) [hello_size]u8 {
    var out: [hello_size]u8 = undefined;
    @memcpy(out[0..4], magic);
    out[4] = 0;
    @memcpy(out[5..], nc);
    return out;
}

pub fn hello_decode(bytes: []const u8) DecodeError!Nonce {
    if (bytes.len != hello_size) return error.Truncated;
    if (!std.mem.eql(u8, bytes[0..4], magic)) return error.BadMagic;
    if (bytes[4] != 0) return error.BadFlags;
    return bytes[5..hello_size].*;
}

pub fn responder_tag(
    secret: []const u8,
    tunnel: *const Id,
    secret_id: *const Id,
    nc: *const Nonce,
    nr: *const Nonce,
) Tag {
    return mac(secret, "GSA1 responder", tunnel, secret_id, nc, nr);
}

pub fn challenger_tag(
    secret: []const u8,
    tunnel: *const Id,
    secret_id: *const Id,
    nr: *const Nonce,
    nc: *const Nonce,
) Tag {
    return mac(secret, "GSA1 challenger", tunnel, secret_id, nr, nc);
}

fn mac(
    secret: []const u8,
    label: []const u8,
    tunnel: *const Id,
    secret_id: *const Id,
    first: *const Nonce,
    second: *const Nonce,
) Tag {
    var hmac = Hmac.init(secret);
    hmac.update(label);
    hmac.update(tunnel);
    hmac.update(secret_id);
    hmac.update(first);
    hmac.update(second);
    var out: Tag = undefined;
    hmac.final(&out);
    return out;
}

pub fn proof_encode(
    secret: []const u8,
    tunnel: *const Id,
    secret_id: *const Id,
    nc: *const Nonce,
    nr: *const Nonce,
) [proof_size]u8 {
    var out: [proof_size]u8 = undefined;
    @memcpy(out[0..4], magic);
    @memcpy(out[4..20], tunnel);
    @memcpy(out[20..36], secret_id);
    @memcpy(out[36..68], nr);
    out[68..100].* = responder_tag(secret, tunnel, secret_id, nc, nr);
    return out;
}

pub fn proof_decode(bytes: []const u8) DecodeError!Proof {
    if (bytes.len != proof_size) return error.Truncated;
    if (!std.mem.eql(u8, bytes[0..4], magic)) return error.BadMagic;
    return .{
        .tunnel = bytes[4..20].*,
        .secret_id = bytes[20..36].*,
        .nr = bytes[36..68].*,
        .tag = bytes[68..100].*,
    };
}

/// The challenger's judgement of a decoded proof.
pub fn proof_judge(
    secret: []const u8,
    tunnel: *const Id,
    proof: *const Proof,
    nc: *const Nonce,
) Status {
    if (!std.mem.eql(u8, &proof.tunnel, tunnel)) return .unknown_tunnel;
    const want = responder_tag(secret, tunnel, &proof.secret_id, nc, &proof.nr);
    if (!std.crypto.timing_safe.eql(Tag, want, proof.tag)) return .bad_proof;
    return .accepted;
}

/// The VERDICT for a judged proof: Tc when accepted, 32 zero bytes otherwise.
pub fn verdict_encode(
    status: Status,
    secret: []const u8,
    proof: *const Proof,
    nc: *const Nonce,
) [verdict_size]u8 {
    var out: [verdict_size]u8 = @splat(0);
    out[0] = @backingInt(status);
    if (status == .accepted) {
        out[1..].* = challenger_tag(secret, &proof.tunnel, &proof.secret_id, &proof.nr, nc);
    }
    return out;
}

pub fn verdict_decode(bytes: []const u8) DecodeError!Verdict {
    if (bytes.len != verdict_size) return error.Truncated;
    const status = std.enums.fromInt(Status, bytes[0]) orelse return error.UnknownStatus;
    return .{ .status = status, .tag = bytes[1..verdict_size].* };
}

pub const VerdictJudgement = enum { accepted, refused, bad_tag };

/// The responder's check of a VERDICT: mutual authentication through Tc.
pub fn verdict_judge(
    secret: []const u8,
    tunnel: *const Id,
    secret_id: *const Id,
    nr: *const Nonce,
    nc: *const Nonce,
    verdict: *const Verdict,
) VerdictJudgement {
    if (verdict.status != .accepted) return .refused;
    const want = challenger_tag(secret, tunnel, secret_id, nr, nc);
    if (!std.crypto.timing_safe.eql(Tag, want, verdict.tag)) return .bad_tag;
    return .accepted;
}

const testing = std.testing;

test "a handshake between the two roles agrees, and a wrong secret is caught on both sides" {
    const tunnel: Id = @splat(7);
    const secret_id: Id = @splat(9);
    const nc: Nonce = @splat(1);
    const nr: Nonce = @splat(2);
    const hello = hello_encode(&nc);
    const got_nc = try hello_decode(&hello);
    const proof_bytes = proof_encode("key", &tunnel, &secret_id, &got_nc, &nr);
    const proof = try proof_decode(&proof_bytes);
    try testing.expectEqual(Status.accepted, proof_judge("key", &tunnel, &proof, &nc));
    try testing.expectEqual(Status.bad_proof, proof_judge("other", &tunnel, &proof, &nc));
    const other_tunnel: Id = @splat(8);
    try testing.expectEqual(Status.unknown_tunnel, proof_judge("key", &other_tunnel, &proof, &nc));
    const verdict_bytes = verdict_encode(.accepted, "key", &proof, &nc);
    const verdict = try verdict_decode(&verdict_bytes);
    try testing.expectEqual(
        VerdictJudgement.accepted,
        verdict_judge("key", &tunnel, &secret_id, &nr, &nc, &verdict),
    );
    try testing.expectEqual(
        VerdictJudgement.bad_tag,
        verdict_judge("nope", &tunnel, &secret_id, &nr, &nc, &verdict),
    );
    const refused_bytes = verdict_encode(.bad_proof, "key", &proof, &nc);
    try testing.expect(std.mem.allEqual(u8, refused_bytes[1..], 0));
    const refused = try verdict_decode(&refused_bytes);
    try testing.expectEqual(
        VerdictJudgement.refused,
        verdict_judge("key", &tunnel, &secret_id, &nr, &nc, &refused),
    );
}
