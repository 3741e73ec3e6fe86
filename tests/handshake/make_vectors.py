#!/usr/bin/env python3
"""Writes gsa1_vectors.json: GSA1 test vectors from an implementation independent of
both the TypeScript and the Zig one (Python's hmac), per shared/design/handshake.md.
Nonces are fixed here so the vectors are reproducible; real handshakes draw them
from the OS CSPRNG. Run: python3 tests/handshake/make_vectors.py > tests/handshake/gsa1_vectors.json
"""
import hashlib
import hmac
import json
import uuid

MAGIC = b"GSA1"


def tag(secret: str, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), label + b"".join(parts), hashlib.sha256).digest()


def vector(name, secret, tunnel_id, secret_id, nc, nr):
    t = uuid.UUID(tunnel_id).bytes
    s = uuid.UUID(secret_id).bytes if secret_id else bytes(16)
    hello = MAGIC + b"\x00" + nc
    tr = tag(secret, b"GSA1 responder", t, s, nc, nr)
    proof = MAGIC + t + s + nr + tr
    tc = tag(secret, b"GSA1 challenger", t, s, nr, nc)
    verdict_ok = b"\x00" + tc
    assert len(hello) == 37 and len(proof) == 100 and len(verdict_ok) == 33
    return {
        "name": name,
        "secret": secret,
        "tunnel_id": tunnel_id,
        "secret_id": secret_id,
        "nc_hex": nc.hex(),
        "nr_hex": nr.hex(),
        "hello_hex": hello.hex(),
        "tr_hex": tr.hex(),
        "proof_hex": proof.hex(),
        "tc_hex": tc.hex(),
        "verdict_ok_hex": verdict_ok.hex(),
    }


def fill(byte: int) -> bytes:
    return bytes([byte]) * 32


def counting(start: int) -> bytes:
    return bytes((start + i) % 256 for i in range(32))


vectors = [
    vector("plain ascii secret", "s3cret-lan-key", "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
           "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", counting(0), counting(100)),
    vector("unknown secret id (all zero)", "another key", "00112233-4455-4677-8899-aabbccddeeff",
           None, fill(0x11), fill(0x22)),
    vector("utf-8 secret", "clé-secrète-Ω", "ffffffff-ffff-4fff-bfff-ffffffffffff",
           "12345678-1234-4234-9234-123456789abc", fill(0x00), fill(0xff)),
    vector("long secret (longer than the HMAC block)", "k" * 200,
           "deadbeef-0000-4000-8000-000000000001", "cafebabe-0000-4000-8000-000000000002",
           counting(7), counting(201)),
]

good = vectors[0]
hello = bytes.fromhex(good["hello_hex"])
proof = bytes.fromhex(good["proof_hex"])
invalid = [
    {"name": "hello with wrong magic", "message": "hello", "bytes_hex": (b"GSA2" + hello[4:]).hex()},
    {"name": "hello with non-zero flags", "message": "hello", "bytes_hex": (hello[:4] + b"\x01" + hello[5:]).hex()},
    {"name": "hello truncated", "message": "hello", "bytes_hex": hello[:36].hex()},
    {"name": "proof with wrong magic", "message": "proof", "bytes_hex": (b"HTTP" + proof[4:]).hex()},
    {"name": "proof truncated", "message": "proof", "bytes_hex": proof[:99].hex()},
    {"name": "proof with a flipped tag bit", "message": "proof", "expect": "bad_proof",
     "bytes_hex": (proof[:99] + bytes([proof[99] ^ 1])).hex()},
    {"name": "verdict with unknown status", "message": "verdict", "bytes_hex": (b"\x07" + bytes(32)).hex()},
    {"name": "verdict truncated", "message": "verdict", "bytes_hex": bytes.fromhex(good["verdict_ok_hex"])[:32].hex()},
    {"name": "verdict ok with a wrong tag", "message": "verdict", "expect": "bad_tag",
     "bytes_hex": (b"\x00" + bytes(32)).hex()},
]

print(json.dumps({
    "about": "GSA1 test vectors, this project's own LAN handshake (shared/design/handshake.md). "
             "Read by the TypeScript and the Zig test suites. Made by make_vectors.py.",
    "sizes": {"hello": 37, "proof": 100, "verdict": 33},
    "verdict_status": {"accepted": 0, "unknown_tunnel": 1, "bad_proof": 2, "secret_expired": 3, "refused": 4},
    "vectors": vectors,
    "invalid": invalid,
}, indent=2, ensure_ascii=False))
