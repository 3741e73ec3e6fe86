//! Runs GSA1 (gsa1.zig) over a connected socket, either role, within a deadline.
//!
//! Works the same on blocking and non-blocking sockets: every read and write waits in
//! poll() for the time left and then moves bytes with MSG_DONTWAIT, so no step can wait
//! past the deadline. Writes use MSG_NOSIGNAL so a vanished peer cannot raise SIGPIPE in
//! the host program. Reads take exactly a message's size, never the bytes after it.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const gsa1 = @import("gsa1.zig");

/// Upper bound on poll/recv rounds for one message; a peer trickling one byte at a time
/// still fits, a signal storm does not spin forever (the deadline also applies).
const io_rounds_max = 4096;

pub const Outcome = enum {
    ok,
    /// The challenger refused us (responder side) or we refused the peer (challenger side).
    refused,
    /// The challenger's Tc did not match: it does not hold our secret.
    bad_tag,
    /// The peer sent something that is not a GSA1 message.
    bad_message,
    timeout,
    closed,
    io_error,
    no_randomness,

    pub fn errno(outcome: Outcome) c_int {
        assert(outcome != .ok);
        return if (outcome == .timeout) sys.ETIMEDOUT else sys.ECONNREFUSED;
    }
};

pub const Result = struct {
    outcome: Outcome,
    /// The VERDICT status: what the challenger said (responder side) or what we said.
    status: gsa1.Status = .accepted,

    /// What happened, for a log line.
    pub fn text(result: Result) []const u8 {
        return switch (result.outcome) {
            .ok => "gsa1 ok",
            .refused => switch (result.status) {
                .accepted => "gsa1 refused",
                .unknown_tunnel => "gsa1 refused: unknown tunnel",
                .bad_proof => "gsa1 refused: bad proof (wrong LAN secret?)",
                .secret_expired => "gsa1 refused: LAN secret expired",
                .refused => "gsa1 refused",
            },
            .bad_tag => "gsa1 failed: the access point's reply does not prove the secret",
            .bad_message => "gsa1 failed: the peer does not speak GSA1",
            .timeout => "gsa1 timed out (GLOBUS_STREAMS_HANDSHAKE_TIMEOUT)",
            .closed => "gsa1 failed: the peer closed the connection",
            .io_error => "gsa1 failed: socket error",
            .no_randomness => "gsa1 failed: no randomness from the OS",
        };
    }
};

/// The connecting side (initiating app -> access point).
pub fn respond(
    fd: c_int,
    secret: []const u8,
    tunnel: *const gsa1.Id,
    secret_id: *const gsa1.Id,
    deadline_ms: u64,
) Result {
    assert(fd >= 0);
    assert(secret.len > 0);
    var hello: [gsa1.hello_size]u8 = undefined;
    if (read_exact(fd, &hello, deadline_ms)) |failure| return .{ .outcome = failure };
    const nc = gsa1.hello_decode(&hello) catch return .{ .outcome = .bad_message };
    var nr: gsa1.Nonce = undefined;
    if (!fill_random(&nr)) return .{ .outcome = .no_randomness };
    const proof = gsa1.proof_encode(secret, tunnel, secret_id, &nc, &nr);
    if (write_all(fd, &proof, deadline_ms)) |failure| return .{ .outcome = failure };
    var verdict_bytes: [gsa1.verdict_size]u8 = undefined;
    if (read_exact(fd, &verdict_bytes, deadline_ms)) |failure| return .{ .outcome = failure };
    const verdict = gsa1.verdict_decode(&verdict_bytes) catch return .{ .outcome = .bad_message };
    return switch (gsa1.verdict_judge(secret, tunnel, secret_id, &nr, &nc, &verdict)) {
        .accepted => .{ .outcome = .ok },
        .refused => .{ .outcome = .refused, .status = verdict.status },
        .bad_tag => .{ .outcome = .bad_tag },
    };
}

/// The accepting side (listening app <- access point), in one go. Without a secret (the
/// tunnel's lookup failed) the peer is still heard out and told `unknown tunnel`.
pub fn challenge(fd: c_int, secret: ?[]const u8, tunnel: *const gsa1.Id, deadline_ms: u64) Result {
    assert(fd >= 0);
    var nc: gsa1.Nonce = undefined;
    if (challenge_hello(fd, &nc, deadline_ms)) |failure| return .{ .outcome = failure };
    var proof_bytes: [gsa1.proof_size]u8 = undefined;
    if (read_exact(fd, &proof_bytes, deadline_ms)) |failure| return .{ .outcome = failure };
    return challenge_verdict(fd, secret, tunnel, &proof_bytes, &nc, deadline_ms);
}

/// The challenger's first step: a fresh nonce into nc and the HELLO sent; null on success.
pub fn challenge_hello(fd: c_int, nc: *gsa1.Nonce, deadline_ms: u64) ?Outcome {
    assert(fd >= 0);
    if (!fill_random(nc)) return .no_randomness;
    const hello = gsa1.hello_encode(nc);
    return write_all(fd, &hello, deadline_ms);
}

/// The challenger's last step: judges the peer's PROOF and sends the VERDICT. Without a
/// secret the verdict is `unknown tunnel`.
pub fn challenge_verdict(
    fd: c_int,
    secret: ?[]const u8,
    tunnel: *const gsa1.Id,
    proof_bytes: *const [gsa1.proof_size]u8,
    nc: *const gsa1.Nonce,
    deadline_ms: u64,
) Result {
    assert(fd >= 0);
    const proof = gsa1.proof_decode(proof_bytes) catch return .{ .outcome = .bad_message };
    const key = secret orelse "";
    const status: gsa1.Status = if (secret == null) .unknown_tunnel else gsa1.proof_judge(
        key,
        tunnel,
        &proof,
        nc,
    );
    const verdict = gsa1.verdict_encode(status, key, &proof, nc);
    if (write_all(
        fd,
        &verdict,
        deadline_ms,
    )) |failure| return .{ .outcome = failure, .status = status };
    if (status != .accepted) return .{ .outcome = .refused, .status = status };
    return .{ .outcome = .ok };
}

/// Reads exactly buffer.len bytes; null on success, else why not.
pub fn read_exact(fd: c_int, buffer: []u8, deadline_ms: u64) ?Outcome {
    var done: usize = 0;
    var rounds: u32 = 0;
    while (done < buffer.len) : (rounds += 1) {
        if (rounds == io_rounds_max) return .io_error;
        if (wait(fd, sys.POLLIN, deadline_ms)) |failure| return failure;
        const rc = sys.recv(fd, buffer[done..].ptr, buffer.len - done, sys.MSG_DONTWAIT);
        if (rc == 0) return .closed;
        if (rc < 0) {
            const err = sys.errno();
            if (err == sys.EINTR or err == sys.EAGAIN) continue;
            return .io_error;
        }
        done += @intCast(rc);
    }
    assert(done == buffer.len);
    return null;
}

/// Writes all of bytes; null on success, else why not.
pub fn write_all(fd: c_int, bytes: []const u8, deadline_ms: u64) ?Outcome {
    var done: usize = 0;
    var rounds: u32 = 0;
    while (done < bytes.len) : (rounds += 1) {
        if (rounds == io_rounds_max) return .io_error;
        if (wait(fd, sys.POLLOUT, deadline_ms)) |failure| return failure;
        const rc = sys.send(
            fd,
            bytes[done..].ptr,
            bytes.len - done,
            sys.MSG_DONTWAIT | sys.MSG_NOSIGNAL,
        );
        if (rc < 0) {
            const err = sys.errno();
            if (err == sys.EINTR or err == sys.EAGAIN) continue;
            return .io_error;
        }
        done += @intCast(rc);
    }
    assert(done == bytes.len);
    return null;
}

/// Waits until fd is ready for events or the deadline passes. A hang-up or error still
/// counts as ready: the following recv/send reports it.
pub fn wait(fd: c_int, events: c_short, deadline_ms: u64) ?Outcome {
    var rounds: u32 = 0;
    while (rounds < io_rounds_max) : (rounds += 1) {
        const left_ms = sys.remaining_ms(deadline_ms);
        if (left_ms == 0) return .timeout;
        var poll_fd = [1]sys.pollfd{.{ .fd = fd, .events = events, .revents = 0 }};
        const rc = sys.poll(&poll_fd, 1, left_ms);
        if (rc > 0) return null;
        if (rc == 0) return .timeout;
        if (sys.errno() != sys.EINTR) return .io_error;
    }
    return .io_error;
}

/// Fills buffer from the OS CSPRNG: getrandom(2), or /dev/urandom on kernels before 3.17.
pub fn fill_random(buffer: []u8) bool {
    const linux = std.os.linux;
    var done: usize = 0;
    var rounds: u32 = 0;
    while (done < buffer.len and rounds < 16) : (rounds += 1) {
        const rc = linux.getrandom(buffer[done..].ptr, buffer.len - done, 0);
        switch (linux.errno(rc)) {
            .SUCCESS => done += rc,
            .INTR => continue,
            else => return fill_random_device(buffer),
        }
    }
    return done == buffer.len;
}

fn fill_random_device(buffer: []u8) bool {
    const fd = sys.open("/dev/urandom", sys.O_RDONLY | sys.O_CLOEXEC);
    if (fd < 0) return false;
    defer _ = sys.close(fd);
    var done: usize = 0;
    var rounds: u32 = 0;
    while (done < buffer.len and rounds < 16) : (rounds += 1) {
        const rc = sys.read(fd, buffer[done..].ptr, buffer.len - done);
        if (rc <= 0) continue;
        done += @intCast(rc);
    }
    return done == buffer.len;
}

const testing = std.testing;

fn socket_pair() ![2]c_int {
    var fds: [2]c_int = undefined;
    const linux = std.os.linux;
    const rc = linux.socketpair(linux.AF.UNIX, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0, &fds);
    if (linux.errno(rc) != .SUCCESS) return error.SocketPair;
    return fds;
}

const Challenger = struct {
    fd: c_int,
    secret: ?[]const u8,
    tunnel: gsa1.Id,
    result: Result = .{ .outcome = .io_error },

    fn run(self: *Challenger) void {
        self.result = challenge(self.fd, self.secret, &self.tunnel, sys.now_ms() + 2000);
    }
};

fn handshake_pair(
    responder_secret: []const u8,
    challenger: *Challenger,
    responder_tunnel: gsa1.Id,
) !Result {
    const fds = try socket_pair();
    defer _ = sys.close(fds[0]);
    defer _ = sys.close(fds[1]);
    challenger.fd = fds[0];
    const thread = try std.Thread.spawn(.{}, Challenger.run, .{challenger});
    const secret_id: gsa1.Id = @splat(3);
    const result = respond(
        fds[1],
        responder_secret,
        &responder_tunnel,
        &secret_id,
        sys.now_ms() + 2000,
    );
    thread.join();
    return result;
}

test "both roles complete GSA1 over a socket and refuse a wrong secret or tunnel" {
    const tunnel: gsa1.Id = @splat(5);
    var good: Challenger = .{ .fd = -1, .secret = "lan secret", .tunnel = tunnel };
    try testing.expectEqual(Outcome.ok, (try handshake_pair("lan secret", &good, tunnel)).outcome);
    try testing.expectEqual(Outcome.ok, good.result.outcome);

    var wrong: Challenger = .{ .fd = -1, .secret = "other secret", .tunnel = tunnel };
    const refused = try handshake_pair("lan secret", &wrong, tunnel);
    try testing.expectEqual(Outcome.refused, refused.outcome);
    try testing.expectEqual(gsa1.Status.bad_proof, refused.status);
    try testing.expectEqual(Outcome.refused, wrong.result.outcome);

    var other_tunnel: Challenger = .{ .fd = -1, .secret = "lan secret", .tunnel = @splat(6) };
    const unknown = try handshake_pair("lan secret", &other_tunnel, tunnel);
    try testing.expectEqual(gsa1.Status.unknown_tunnel, unknown.status);

    var no_secret: Challenger = .{ .fd = -1, .secret = null, .tunnel = tunnel };
    try testing.expectEqual(
        gsa1.Status.unknown_tunnel,
        (try handshake_pair("lan secret", &no_secret, tunnel)).status,
    );
}

test "a silent, closed or foreign peer fails the handshake within the deadline" {
    const fds = try socket_pair();
    defer _ = sys.close(fds[0]);
    const tunnel: gsa1.Id = @splat(5);
    const started_ms = sys.now_ms();
    const silent = respond(fds[1], "k", &tunnel, &tunnel, started_ms + 200);
    try testing.expectEqual(Outcome.timeout, silent.outcome);
    try testing.expect(sys.now_ms() - started_ms < 1500);
    try testing.expectEqual(sys.ETIMEDOUT, silent.outcome.errno());

    const foreign = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    try testing.expect(write_all(fds[0], foreign[0..gsa1.hello_size], sys.now_ms() + 200) == null);
    try testing.expectEqual(
        Outcome.bad_message,
        respond(fds[1], "k", &tunnel, &tunnel, sys.now_ms() + 200).outcome,
    );

    _ = sys.close(fds[1]);
    const closed = challenge(fds[0], "k", &tunnel, sys.now_ms() + 200);
    try testing.expect(closed.outcome == .closed or closed.outcome == .io_error);
    try testing.expectEqual(sys.ECONNREFUSED, closed.outcome.errno());
}

test "nonces come from the OS and differ" {
    var a: gsa1.Nonce = undefined;
    var b: gsa1.Nonce = undefined;
    try testing.expect(fill_random(&a));
    try testing.expect(fill_random(&b));
    try testing.expect(!std.mem.eql(u8, &a, &b));
    try testing.expect(fill_random_device(&a));
}
