import { InvalidArgumentError } from '../errors.js';

// Passwords come from standard input, never from argv (which other users can read in
// /proc): piped, the first line; on a terminal, typed twice without echo.

const MAX_BYTES = 4096;

async function readPiped(stdin: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += String(chunk);
    if (text.length > MAX_BYTES) throw new InvalidArgumentError('password on stdin is too long');
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

function readHidden(stdin: NodeJS.ReadStream, prompt: string, err: (s: string) => void): Promise<string> {
  err(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (fn: () => void): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      err('\n');
      fn();
    };
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(text));
        if (ch === '\u0003') return done(() => reject(new InvalidArgumentError('cancelled')));
        if (ch === '\u007f') text = text.slice(0, -1);
        else if (text.length < MAX_BYTES) text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readPassword(err: (s: string) => void, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!stdin.isTTY) return readPiped(stdin);
  const first = await readHidden(stdin, 'Password: ', err);
  const again = await readHidden(stdin, 'Password (again): ', err);
  if (first !== again) throw new InvalidArgumentError('the passwords differ');
  return first;
}
