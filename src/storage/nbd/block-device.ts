/**
 * What the NBD server exports. Offsets and lengths are validated by the caller against
 * `size`. `fua: true` means the call must not resolve before the data is durable (in the
 * device's own sense of durable); `flush()` makes every write resolved so far durable.
 */
export interface BlockDevice {
  readonly size: number;
  /**
   * True only if a flush on any connection covers writes completed on every connection
   * (NBD_FLAG_CAN_MULTI_CONN is advertised only then).
   */
  readonly multiConn: boolean;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  flush(): Promise<void>;
}
