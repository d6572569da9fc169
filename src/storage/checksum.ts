import { crc32 } from 'node:zlib';

/**
 * Block checksum: CRC-32 from node's bundled zlib (native, no dependency). It detects
 * torn writes and bit rot of a 4 KiB block; it is not a cryptographic hash.
 */
export function blockChecksum(data: Uint8Array): number {
  return crc32(data);
}
