/** Reading a JSON document from a file or from standard input (`-`). */
import { readFile } from 'node:fs/promises';
import type { Io } from '../main.js';
import { InputFileError } from '../errors.js';

/**
 * The file argument as given. yargs turns a positional `-` into '' (yargs/yargs#1312, open), and no
 * file is named '': both mean standard input.
 */
export function fileArg(value: unknown): string {
  return value === '' || value === true || value === undefined ? '-' : String(value);
}

export async function readText(path: string, io: Io, what: string): Promise<{ text: string; shown: string }> {
  if (path === '-') {
    const stdin = io.stdin ?? process.stdin;
    const chunks: Buffer[] = [];
    try {
      for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
    } catch (err) {
      throw new InputFileError('standard input', what, `cannot read: ${(err as Error).message}`, { cause: err });
    }
    return { text: Buffer.concat(chunks).toString('utf8'), shown: 'standard input' };
  }
  try {
    return { text: await readFile(path, 'utf8'), shown: path };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new InputFileError(path, what, reason, { cause: err });
  }
}

/** Read and parse a JSON document; a read or syntax error is HOPLITE_INPUT_FILE (exit 2). */
export async function readJson(path: string, io: Io, what: string): Promise<{ value: unknown; shown: string }> {
  const { text, shown } = await readText(path, io, what);
  if (text.trim() === '') throw new InputFileError(shown, what, 'it is empty');
  try {
    return { value: JSON.parse(text) as unknown, shown };
  } catch (err) {
    throw new InputFileError(shown, what, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
}
