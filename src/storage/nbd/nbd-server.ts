import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { StorageError } from '../errors.ts';
import { BufReader, BufWriter, putU64 } from '../io/codec.ts';
import { SocketReader } from '../io/socket-reader.ts';
import { FrameSink } from '../protocol/frame-io.ts';
import type { BlockDevice } from './block-device.ts';
import * as C from './constants.ts';

export type NbdServerOptions = {
  /** Exports by name; the first is also served for the empty (default) name. */
  readonly exports: ReadonlyMap<string, BlockDevice>;
  /** Requests in flight per connection before the server stops reading (default 32). */
  readonly maxInFlight?: number;
  /** Largest READ/WRITE payload accepted (default 32 MiB); advertised as the maximum block size. */
  readonly maxPayload?: number;
  /** TLS through NBD_OPT_STARTTLS (absent: STARTTLS is refused with ERR_POLICY). */
  readonly tls?: NbdTlsOptions;
};

export type NbdTlsOptions = {
  /**
   * `optional`: clients may upgrade with STARTTLS or stay in plaintext. `require`: every
   * option but STARTTLS and ABORT is refused with ERR_TLS_REQD until TLS is up (as
   * nbdkit `--tls=require` and qemu-nbd with tls-creds do).
   */
  readonly mode: 'optional' | 'require';
  /** PEM server certificate (chain) and key. */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** PEM CA certificates that client certificates must chain to (with `verifyPeer`). */
  readonly ca?: string | Buffer;
  /** Require a client certificate signed by `ca` (qemu's verify-peer). Default false. */
  readonly verifyPeer?: boolean;
};

const MAX_OPTION_LENGTH = 64 * 1024;

/**
 * An NBD server (fixed newstyle only; TLS through NBD_OPT_STARTTLS when configured) per
 * the protocol document.
 *
 * Guarantees: replies to FLUSH and FUA requests are sent only after the device resolved
 * them; structured replies (READ only) when negotiated, simple replies otherwise;
 * per-connection at most `maxInFlight` requests and their payloads are held, beyond that
 * the socket is not read (TCP backpressure). DISC waits for in-flight requests, then closes.
 * Protocol violations end the connection (a "hard disconnect").
 */
export class NbdServer {
  readonly #opts: NbdServerOptions;
  readonly #sockets = new Set<Socket>();
  readonly #tls: SecureContext | undefined;
  #server: Server | undefined;

  constructor(opts: NbdServerOptions) {
    this.#opts = opts;
    const t = opts.tls;
    // Built once: a bad certificate or key fails here, with the reason, not per client.
    this.#tls = t === undefined ? undefined : createSecureContext({ cert: t.cert, key: t.key, ca: t.ca });
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((s) => this.#serve(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new StorageError('Io', 'no TCP address');
    return addr.port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const conn = new Connection(socket, this.#opts, this.#tls);
    conn.run().then(
      () => socket.end(),
      () => socket.destroy(),
    );
  }
}

class Connection {
  /** The raw socket, replaced by its TLS layer after STARTTLS. */
  #socket: Socket;
  #reader: SocketReader;
  /** Replies go through a corked sink: one writev per event-loop turn, not a write per reply. */
  #sink: FrameSink;
  readonly #opts: NbdServerOptions;
  readonly #tlsContext: SecureContext | undefined;
  readonly #maxPayload: number;
  #structured = false;
  #noZeroes = false;
  #tls = false;

  constructor(socket: Socket, opts: NbdServerOptions, tls: SecureContext | undefined) {
    this.#socket = socket;
    this.#opts = opts;
    this.#tlsContext = tls;
    this.#maxPayload = opts.maxPayload ?? 32 * 1024 * 1024;
    this.#reader = new SocketReader(socket, 1024 * 1024);
    this.#sink = new FrameSink(socket);
  }

  async run(): Promise<void> {
    const device = await this.#handshake();
    if (device === undefined) return;
    await this.#transmit(device);
  }

  #find(name: string): BlockDevice | undefined {
    if (name === '') return this.#opts.exports.values().next().value;
    return this.#opts.exports.get(name);
  }

  #flags(device: BlockDevice): number {
    let f =
      C.TFLAG_HAS_FLAGS |
      C.TFLAG_SEND_FLUSH |
      C.TFLAG_SEND_FUA |
      C.TFLAG_SEND_TRIM |
      C.TFLAG_SEND_WRITE_ZEROES;
    if (device.multiConn) f |= C.TFLAG_CAN_MULTI_CONN;
    return f;
  }

  #optReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(20);
    h.writeBigUInt64BE(C.OPT_REPLY_MAGIC, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(type, 12);
    h.writeUInt32BE(data.length, 16);
    this.#socket.write(h);
    if (data.length > 0) this.#socket.write(data);
  }

  /** Option haggling; resolves with the export to serve, or undefined if the client left. */
  async #handshake(): Promise<BlockDevice | undefined> {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(C.NBDMAGIC, 0);
    hello.writeBigUInt64BE(C.IHAVEOPT, 8);
    hello.writeUInt16BE(C.FLAG_FIXED_NEWSTYLE | C.FLAG_NO_ZEROES, 16);
    this.#socket.write(hello);
    const clientFlags = (await this.#reader.read(4)).readUInt32BE(0);
    if ((clientFlags & ~(C.FLAG_C_FIXED_NEWSTYLE | C.FLAG_C_NO_ZEROES)) !== 0) {
      throw new StorageError('Protocol', `unknown client flags ${clientFlags}`);
    }
    this.#noZeroes = (clientFlags & C.FLAG_C_NO_ZEROES) !== 0;
    for (;;) {
      const head = await this.#reader.read(16);
      if (head.readBigUInt64BE(0) !== C.IHAVEOPT) throw new StorageError('Protocol', 'bad option magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > MAX_OPTION_LENGTH) throw new StorageError('Protocol', `option of ${length} bytes`);
      const data = await this.#reader.read(length);
      if (this.#opts.tls?.mode === 'require' && !this.#tls) {
        // Before TLS only STARTTLS and ABORT; EXPORT_NAME cannot be refused politely.
        if (option === C.OPT_EXPORT_NAME) return undefined;
        if (option !== C.OPT_STARTTLS && option !== C.OPT_ABORT) {
          this.#optReply(option, C.REP_ERR_TLS_REQD, Buffer.from('TLS is required: use NBD_OPT_STARTTLS'));
          continue;
        }
      }
      switch (option) {
        case C.OPT_EXPORT_NAME: {
          const device = this.#find(data.toString('utf8'));
          if (device === undefined) return undefined; // this option cannot fail politely
          const w = new BufWriter().u64(device.size).u16(this.#flags(device));
          this.#socket.write(w.finish());
          if (!this.#noZeroes) this.#socket.write(Buffer.alloc(124));
          return device;
        }
        case C.OPT_ABORT:
          this.#optReply(option, C.REP_ACK);
          return undefined;
        case C.OPT_LIST:
          if (length !== 0) {
            this.#optReply(option, C.REP_ERR_INVALID);
            break;
          }
          for (const name of this.#opts.exports.keys())
            this.#optReply(option, C.REP_SERVER, new BufWriter().str(name).finish());
          this.#optReply(option, C.REP_ACK);
          break;
        case C.OPT_STRUCTURED_REPLY:
          if (length !== 0) {
            this.#optReply(option, C.REP_ERR_INVALID);
            break;
          }
          this.#structured = true;
          this.#optReply(option, C.REP_ACK);
          break;
        case C.OPT_INFO:
        case C.OPT_GO: {
          const device = this.#infoOrGo(option, data);
          if (option === C.OPT_GO && device !== undefined) return device;
          break;
        }
        case C.OPT_STARTTLS:
          if (this.#tlsContext === undefined) {
            this.#optReply(option, C.REP_ERR_POLICY, Buffer.from('TLS is not enabled on this server'));
          } else if (this.#tls || length !== 0) {
            this.#optReply(option, C.REP_ERR_INVALID, Buffer.from('TLS already negotiated'));
          } else {
            await this.#startTls(this.#tlsContext);
          }
          break;
        default:
          this.#optReply(option, C.REP_ERR_UNSUP);
      }
    }
  }

  /**
   * Acknowledges STARTTLS, then runs the TLS handshake on the socket; everything after
   * (the rest of option haggling and transmission) goes through TLS. A failed handshake
   * (untrusted client certificate with `verifyPeer`, say) ends the connection.
   */
  async #startTls(context: SecureContext): Promise<void> {
    const raw = this.#socket;
    // The client sends nothing between its STARTTLS and the handshake.
    if (this.#reader.detach().length > 0) throw new StorageError('Protocol', 'data after NBD_OPT_STARTTLS');
    const ack = Buffer.alloc(20);
    ack.writeBigUInt64BE(C.OPT_REPLY_MAGIC, 0);
    ack.writeUInt32BE(C.OPT_STARTTLS, 8);
    ack.writeUInt32BE(C.REP_ACK, 12);
    await new Promise<void>((resolve, reject) => raw.write(ack, (e) => (e ? reject(e) : resolve())));
    const verify = this.#opts.tls?.verifyPeer === true;
    const secure = new TLSSocket(raw, {
      isServer: true,
      secureContext: context,
      requestCert: verify,
      rejectUnauthorized: verify,
    });
    secure.on('error', () => raw.destroy());
    await Promise.race([
      once(secure, 'secure'),
      once(secure, 'close').then(() => {
        throw new StorageError('Protocol', 'TLS handshake failed');
      }),
    ]);
    secure.setNoDelay(true);
    this.#socket = secure;
    this.#reader = new SocketReader(secure, 1024 * 1024);
    this.#sink = new FrameSink(secure);
    this.#tls = true;
  }

  #infoOrGo(option: number, data: Buffer): BlockDevice | undefined {
    let name: string;
    const requests: number[] = [];
    try {
      const r = new BufReader(data);
      name = r.str(4096);
      const n = r.u16();
      for (let i = 0; i < n; i++) requests.push(r.u16());
      if (r.remaining !== 0) throw new StorageError('Protocol', 'trailing bytes');
    } catch {
      this.#optReply(option, C.REP_ERR_INVALID, Buffer.from('malformed NBD_OPT_INFO/GO'));
      return undefined;
    }
    const device = this.#find(name);
    if (device === undefined) {
      this.#optReply(option, C.REP_ERR_UNKNOWN, Buffer.from(`no export named ${JSON.stringify(name)}`));
      return undefined;
    }
    this.#optReply(
      option,
      C.REP_INFO,
      new BufWriter().u16(C.INFO_EXPORT).u64(device.size).u16(this.#flags(device)).finish(),
    );
    // Always sent: byte granularity (minimum 1), so clients need not align requests.
    this.#optReply(
      option,
      C.REP_INFO,
      new BufWriter().u16(C.INFO_BLOCK_SIZE).u32(1).u32(4096).u32(this.#maxPayload).finish(),
    );
    if (requests.includes(C.INFO_NAME)) {
      const bytes = Buffer.from(name, 'utf8');
      this.#optReply(option, C.REP_INFO, new BufWriter().u16(C.INFO_NAME).bytes(bytes).finish());
    }
    this.#optReply(option, C.REP_ACK);
    return device;
  }

  /**
   * The transmission phase. Requests already buffered are parsed and dispatched
   * synchronously, one after another, so a burst from the client reaches the device in
   * one turn (the replicas then group-commit it) and the replies leave in one write.
   * One promise reaction per request; slots bound what is in flight.
   */
  async #transmit(device: BlockDevice): Promise<void> {
    const max = this.#opts.maxInFlight ?? 32;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const release = (): void => {
      inFlight--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const reader = this.#reader;
    for (;;) {
      while (inFlight >= max) await new Promise<void>((resolve) => (wake = resolve));
      const h = reader.tryRead(28) ?? (await reader.read(28).catch(() => undefined));
      if (h === undefined) break; // client hung up
      if (h.readUInt32BE(0) !== C.REQUEST_MAGIC) throw new StorageError('Protocol', 'bad request magic');
      const flags = h.readUInt16BE(4);
      const type = h.readUInt16BE(6);
      const handleHi = h.readUInt32BE(8);
      const handleLo = h.readUInt32BE(12);
      // Offsets past 2^53 are out of range for any export; no BigInt needed.
      const offset = h.readUInt32BE(16) * 0x1_0000_0000 + h.readUInt32BE(20);
      const length = h.readUInt32BE(24);
      if (type === C.CMD_DISC) break;
      let payload: Buffer | undefined;
      if (type === C.CMD_WRITE) {
        if (length > this.#maxPayload) throw new StorageError('Protocol', `write of ${length} bytes`);
        payload = reader.tryRead(length) ?? (await reader.read(length));
      }
      inFlight++;
      const done = (error: number, data: Buffer | undefined): void => {
        if (this.#reply(type, handleHi, handleLo, offset, length, error, data)) release();
        else void this.#sink.drained().then(release);
      };
      this.#execute(device, type, flags, offset, length, payload).then(
        (data) => done(0, data instanceof Buffer ? data : undefined),
        (err: unknown) => done(errno(err), undefined),
      );
    }
    while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  }

  #execute(
    d: BlockDevice,
    type: number,
    flags: number,
    offset: number,
    length: number,
    payload: Buffer | undefined,
  ): Promise<unknown> {
    const fua = (flags & C.CMD_FLAG_FUA) !== 0;
    const inRange = offset + length <= d.size;
    try {
      switch (type) {
        case C.CMD_READ:
          if (!inRange || length > this.#maxPayload) throw new NbdError(C.EINVAL);
          return length === 0 ? Promise.resolve(Buffer.alloc(0)) : d.read(offset, length);
        case C.CMD_WRITE:
          if (!inRange) throw new NbdError(C.ENOSPC);
          return length > 0 ? d.write(offset, payload ?? Buffer.alloc(0), fua) : Promise.resolve();
        case C.CMD_FLUSH:
          return d.flush();
        case C.CMD_TRIM:
          if (!inRange) throw new NbdError(C.EINVAL);
          return length > 0 ? d.trim(offset, length, fua) : Promise.resolve();
        case C.CMD_WRITE_ZEROES:
          if (!inRange) throw new NbdError(C.ENOSPC);
          return length > 0 ? d.writeZeroes(offset, length, fua) : Promise.resolve();
        default:
          throw new NbdError(C.EINVAL);
      }
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Queues the reply; false when the socket is past its high-water mark. */
  #reply(
    type: number,
    handleHi: number,
    handleLo: number,
    offset: number,
    length: number,
    error: number,
    data: Buffer | undefined,
  ): boolean {
    if (this.#socket.destroyed) return true;
    if (type === C.CMD_READ && this.#structured) {
      if (error === 0 && data !== undefined && data.length > 0) {
        // One header buffer: chunk header (20) + the OFFSET_DATA chunk's offset (8).
        const h = Buffer.allocUnsafe(28);
        h.writeUInt32BE(C.STRUCTURED_REPLY_MAGIC, 0);
        h.writeUInt16BE(C.REPLY_FLAG_DONE, 4);
        h.writeUInt16BE(C.REPLY_TYPE_OFFSET_DATA, 6);
        h.writeUInt32BE(handleHi, 8);
        h.writeUInt32BE(handleLo, 12);
        h.writeUInt32BE(8 + data.length, 16);
        putU64(h, offset, 20);
        return this.#sink.write([h, data]);
      }
      const h = Buffer.alloc(20);
      h.writeUInt32BE(C.STRUCTURED_REPLY_MAGIC, 0);
      h.writeUInt16BE(C.REPLY_FLAG_DONE, 4);
      h.writeUInt32BE(handleHi, 8);
      h.writeUInt32BE(handleLo, 12);
      if (error !== 0) {
        const msg = Buffer.from('read failed');
        h.writeUInt16BE(C.REPLY_TYPE_ERROR, 6);
        h.writeUInt32BE(6 + msg.length, 16);
        return this.#sink.write([h, new BufWriter().u32(error).u16(msg.length).bytes(msg).finish()]);
      }
      h.writeUInt16BE(C.REPLY_TYPE_NONE, 6);
      return this.#sink.write([h]);
    }
    const h = Buffer.allocUnsafe(16);
    h.writeUInt32BE(C.SIMPLE_REPLY_MAGIC, 0);
    h.writeUInt32BE(error, 4);
    h.writeUInt32BE(handleHi, 8);
    h.writeUInt32BE(handleLo, 12);
    if (error === 0 && data !== undefined && data.length > 0) return this.#sink.write([h, data]);
    // A simple reply to a failed READ cannot tell the client "no payload follows": the
    // spec lets the server send `length` bytes the client then ignores.
    if (error !== 0 && type === C.CMD_READ && length <= this.#maxPayload)
      return this.#sink.write([h, Buffer.alloc(length)]);
    return this.#sink.write([h]);
  }
}

class NbdError extends Error {
  readonly code = 'NbdErrno';
  readonly errno: number;
  constructor(errno: number) {
    super(`nbd errno ${errno}`);
    this.errno = errno;
  }
}

function errno(err: unknown): number {
  if (err instanceof NbdError) return err.errno;
  if (err instanceof StorageError) {
    if (err.code === 'Invalid') return C.EINVAL;
    if (err.code === 'NoSpace') return C.ENOSPC;
  }
  return C.EIO;
}
