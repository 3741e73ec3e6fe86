// ELF: enough of the format to check machine, soname and the glibc versions a library
// needs, without `readelf` on the build machine.
import { BuildError } from "./_error.ts";
import { GLIBC_FLOOR, LIBRARY, TARGETS } from "./_targets.ts";

/** What the build checks in a built ELF file. */
export interface ElfInfo {
  /** 2 = executable, 3 = shared object or PIE. */
  type: number;
  machine: number;
  hasInterpreter: boolean;
  soname: string | undefined;
  /** Versions like "GLIBC_2.17" from the version-needs section. */
  versionsNeeded: string[];
}

/** Parses a 64-bit little-endian ELF file's header, program and section headers. */
export function readElf(bytes: Uint8Array): ElfInfo {
  const magic = [0x7f, 0x45, 0x4c, 0x46];
  if (bytes.length < 64 || magic.some((byte, index) => bytes[index] !== byte)) {
    throw new BuildError("Cannot read ELF file: no ELF magic");
  }
  if (bytes[4] !== 2 || bytes[5] !== 1) {
    throw new BuildError("Cannot read ELF file: not 64-bit little-endian");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  const info: ElfInfo = {
    type: u16(16),
    machine: u16(18),
    hasInterpreter: false,
    soname: undefined,
    versionsNeeded: [],
  };
  const [phoff, phentsize, phnum] = [u64(32), u16(54), u16(56)];
  for (let index = 0; index < phnum && phoff + (index + 1) * phentsize <= bytes.length; index++) {
    if (u32(phoff + index * phentsize) === 3) info.hasInterpreter = true; // PT_INTERP
  }
  const [shoff, shentsize, shnum] = [u64(40), u16(58), u16(60)];
  if (shoff === 0 || shoff + shnum * shentsize > bytes.length) return info;
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    return {
      type: u32(at + 4),
      offset: u64(at + 24),
      size: u64(at + 32),
      link: u32(at + 40),
      info: u32(at + 44),
    };
  };
  const cString = (at: number) => {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  for (let index = 0; index < shnum; index++) {
    const current = section(index);
    const strings = section(current.link).offset;
    if (current.type === 6) { // SHT_DYNAMIC: 16-byte entries, DT_SONAME = 14
      for (let at = current.offset; at + 16 <= current.offset + current.size; at += 16) {
        if (u64(at) === 14) info.soname = cString(strings + u64(at + 8));
      }
    }
    if (current.type === 0x6ffffffe) { // SHT_GNU_verneed
      let need = current.offset;
      for (let entry = 0; entry < current.info && need + 16 <= bytes.length; entry++) {
        let aux = need + u32(need + 8);
        for (let count = 0; count < u16(need + 2) && aux + 16 <= bytes.length; count++) {
          info.versionsNeeded.push(cString(strings + u32(aux + 8)));
          aux += u32(aux + 12);
        }
        need += u32(need + 12);
      }
    }
  }
  return info;
}

function versionNumbers(version: string): number[] {
  return version.split(".").map(Number);
}

function versionAbove(version: string, floor: string): boolean {
  const [a, b] = [versionNumbers(version), versionNumbers(floor)];
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const diff = (a[index] ?? 0) - (b[index] ?? 0);
    if (diff !== 0) return diff > 0;
  }
  return false;
}

/** The highest GLIBC_x.y a file needs, or undefined when it needs none. */
export function newestGlibc(info: ElfInfo): string | undefined {
  const versions = info.versionsNeeded
    .filter((name) => name.startsWith("GLIBC_") && /^\d+(\.\d+)*$/.test(name.slice(6)))
    .map((name) => name.slice(6));
  return versions.reduce<string | undefined>(
    (newest, version) => (newest === undefined || versionAbove(version, newest) ? version : newest),
    undefined,
  );
}

/** Everything wrong with a built library for a target; empty when it is right. */
export function libraryProblems(info: ElfInfo, target: string): string[] {
  const want = TARGETS[target];
  const problems: string[] = [];
  if (info.machine !== want.elfMachine) {
    problems.push(`ELF machine ${info.machine}, want ${want.elfMachine} (${want.machineName})`);
  }
  if (info.type !== 3) problems.push(`ELF type ${info.type}, want 3 (shared object)`);
  if (info.soname !== LIBRARY) problems.push(`soname "${info.soname ?? ""}", want "${LIBRARY}"`);
  const glibc = newestGlibc(info);
  if (glibc && versionAbove(glibc, GLIBC_FLOOR)) {
    problems.push(`needs GLIBC_${glibc}, above the floor ${GLIBC_FLOOR}`);
  }
  return problems;
}
