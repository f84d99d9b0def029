#!/usr/bin/env python3
"""Checks a `carerecord audit export` directory with nothing of carerecord: Python's hashlib for
the chain, the openssl command for the Ed25519 checkpoint signatures. Prints `ok N entries`, or
`first bad entry: SEQ` / `bad checkpoint: line L` and exits 1. Usage: verify_audit_export.py DIR
PUBLIC_KEY_PEM: the public key you were given, pinned (the copy inside an export proves nothing:
whoever rewrote the log could have re-signed it with a key of their own)."""
import hashlib, json, os, subprocess, sys, tempfile

if len(sys.argv) != 3:
    sys.exit("usage: verify_audit_export.py EXPORT_DIR PUBLIC_KEY_PEM (the key you were given, not the export's copy)")
d, key = sys.argv[1], sys.argv[2]
if not os.path.isfile(key) or os.path.getsize(key) == 0:
    sys.exit(f"no public key at {key}")
chain, previous, signed_to = {}, bytes(32), 0  # hash_0: 32 zero bytes
with open(os.path.join(d, "entries.jsonl"), "rb") as entries, open(os.path.join(d, "hashes.txt")) as hashes:
    for seq, (line, stored) in enumerate(zip(entries, hashes), start=1):
        canonical = line.rstrip(b"\n")
        previous = hashlib.sha256(previous + canonical).digest()  # hash_n = SHA-256(hash_n-1 || entry_n)
        if json.loads(canonical)["seq"] != seq or previous.hex() != stored.strip():
            sys.exit(f"first bad entry: {seq}")
        chain[seq] = previous.hex()
with open(os.path.join(d, "audit-checkpoints")) as checkpoints, tempfile.TemporaryDirectory() as tmp:
    for number, line in enumerate(checkpoints, start=1):
        try:
            seq, hash_hex, time_ms, signature = line.split()
            int(seq), int(time_ms), bytes.fromhex(signature), bytes.fromhex(hash_hex)
        except ValueError:
            sys.exit(f"bad checkpoint: line {number} (not 'SEQ HASH TIME_MS SIGNATURE')")
        with open(os.path.join(tmp, "m"), "wb") as m, open(os.path.join(tmp, "s"), "wb") as s:
            m.write(f"carerecord-audit-checkpoint-v1 {seq} {hash_hex} {time_ms}".encode())
            s.write(bytes.fromhex(signature))
        signed = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin",
                                 "-in", os.path.join(tmp, "m"), "-sigfile", os.path.join(tmp, "s")],
                                capture_output=True).returncode == 0
        if not signed:
            sys.exit(f"bad checkpoint: line {number}")
        if chain.get(int(seq)) != hash_hex:
            sys.exit(f"first bad entry: {min(int(seq), len(chain) + 1)}")
        signed_to = max(signed_to, int(seq))
if chain and signed_to == 0:
    sys.exit("first bad entry: 1 (no signed checkpoint covers the log)")
print(f"ok {len(chain)} entries")
print(f"signed to entry {signed_to}" + (f"; entries {signed_to + 1}-{len(chain)} are not signed" if signed_to < len(chain) else ""))
