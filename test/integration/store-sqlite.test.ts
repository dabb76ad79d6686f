import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openSqliteStore } from '../../src/control/store/sqlite.js';
import { storeCompliance } from './store-compliance.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
storeCompliance({ open: async () => openSqliteStore(join(dir, `s${++n}.db`)) });
