/**
 * Packs an OCI layout directory into an oci-archive with normalised headers (sorted names, dirs 0755,
 * files 0644, mtime 0, uid/gid 0), so equal layouts give equal bytes. Blobs are copied through one
 * reused buffer. Written beside `output` and renamed at the end: a failed run leaves no partial
 * archive behind.
 */
import { close, fstat, open, read, write } from 'node:fs';
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, fsProblem, isFsError, releaseBuffer, removeQuietly, trackPending } from '../util.ts';
import { END_OF_TAR, encodeHeader, padding, type EntryHeader } from './tar-format.ts';

const COPY_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(512);

function openFile(path: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (e, fd) => (e ? reject(e) : resolve(fd))));
}

function closeFile(fd: number): Promise<void> {
  return new Promise((resolve) => close(fd, () => resolve()));
}

function writeAll(fd: number, data: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void =>
      write(fd, data, done, data.length - done, position + done, (e, n) => {
        if (e) reject(e);
        else if (done + n < data.length) step(done + n);
        else resolve();
      });
    step(0);
  });
}

export async function writeOciArchive(layoutDir: string, output: string): Promise<void> {
  const partial = `${output}.partial-${process.pid}`;
  trackPending(partial);
  let fd: number | undefined;
  try {
    // 'wx': never open something already there (a FIFO planted at that name would block the open).
    fd = await openFile(partial, 'wx');
    const out = fd;
    let position = 0;
    const put = async (data: Buffer): Promise<void> => {
      await writeAll(out, data, position);
      position += data.length;
    };
    let buffer: Buffer | undefined;
    const norm = { uid: 0, gid: 0, mtime: 0, size: 0 };
    const dir = (name: string): EntryHeader => ({ ...norm, name, type: 'directory', mode: 0o755 });
    await put(encodeHeader(dir('blobs/')));
    await put(encodeHeader(dir('blobs/sha256/')));
    const addFile = async (name: string, path: string): Promise<void> => {
      const source = await openFile(path, 'r');
      try {
        const size = await new Promise<number>((resolve, reject) => fstat(source, (e, st) => (e ? reject(e) : resolve(st.size))));
        await put(encodeHeader({ ...norm, name, type: 'file', mode: 0o644, size }));
        if ((buffer?.length ?? 0) < Math.min(COPY_BYTES, size)) {
          if (buffer) releaseBuffer(buffer);
          buffer = Buffer.allocUnsafeSlow(Math.min(COPY_BYTES, size));
        }
        const into = buffer as Buffer;
        for (let done = 0; done < size;) {
          const n = await new Promise<number>((resolve, reject) =>
            read(source, into, 0, Math.min(into.length, size - done), done, (e, got) => (e ? reject(e) : resolve(got))),
          );
          if (n === 0) throw new UserError(`${path}: shrank while being copied into the archive`);
          await put(into.subarray(0, n));
          done += n;
        }
        if (padding(size) > 0) await put(ZEROS.subarray(0, padding(size)));
      } finally {
        await closeFile(source);
      }
    };
    const blobDir = join(layoutDir, 'blobs', 'sha256');
    for (const name of (await readdir(blobDir)).sort()) await addFile(`blobs/sha256/${name}`, join(blobDir, name));
    for (const name of ['index.json', 'oci-layout']) await addFile(name, join(layoutDir, name));
    await put(END_OF_TAR);
    if (buffer) releaseBuffer(buffer);
    fd = undefined;
    await closeFile(out);
    await rename(partial, output);
    await removeQuietly(partial); // nothing left at that name: just forget it
  } catch (e) {
    if (fd !== undefined) await closeFile(fd);
    await removeQuietly(partial);
    if (!(e instanceof UserError) && isFsError(e)) throw new UserError(`${output}: cannot write the archive: ${fsProblem(e)}`);
    throw e;
  }
}
