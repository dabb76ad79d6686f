import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openPostgresStore } from '../../src/control/store/postgres.js';
import { createDatabase, postgresUnavailable, startPostgres, type TempPostgres } from '../helpers/postgres.js';
import { storeCompliance } from './store-compliance.js';

const why = postgresUnavailable();
if (why && process.env.WEFT_E2E_REQUIRED === '1') {
  test('PostgreSQL store', () => {
    throw new Error(`required but unavailable: ${why}`);
  });
} else if (why) {
  test('PostgreSQL store', { skip: why }, () => {});
} else {
  let pg: TempPostgres;
  let n = 0;
  let current = '';
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg.stop());
  storeCompliance({
    open: async () => {
      current = await createDatabase(pg.url, `store${++n}`);
      return openPostgresStore(current, silentLogger);
    },
    openShared: async () => openPostgresStore(current, silentLogger),
  });
}
