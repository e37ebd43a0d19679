// ioredis (pinned in package.json) against count-server's RESP port, as a user runs it.
// Run by tests/e2e/redis_clients_e2e_test.cpp against a server it started on 127.0.0.1; exits 1
// with a message at the first mismatch. No reconnects: a dropped connection is a failure.
// usage: node ioredis_client.js basic|password|tls|pipeline|unique --port N [--password PW]
//        [--ca FILE] [--key NAME]
'use strict';

const Redis = require('ioredis');
const {fail, expect, expectRange, start, rejects} = require('./common');

function connect(args, extra = {}) {
  const options = {
    host: '127.0.0.1',
    port: args.port,
    connectTimeout: 10000,
    commandTimeout: 10000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,  // never reconnect
    lazyConnect: true,
    ...extra,
  };
  if (args.caPem && !('tls' in extra)) options.tls = {ca: args.caPem};
  const client = new Redis(options);
  client.on('error', () => {});  // each failure also rejects the command that met it
  return client;
}

// Connects, and waits for ioredis's ready check (INFO, until it says loading:0).
async function ready(client) {
  await client.connect();
  expect('status after connect', client.status, 'ready');
  return client;
}

async function counterRoundTrip(client, key) {
  const first = Number(await client.get(key));
  expect('INCR', await client.incr(key), first + 1);
  expect('INCRBY 41', await client.incrby(key, 41), first + 42);
  expect('DECR', await client.decr(key), first + 41);
  expect('DECRBY 1', await client.decrby(key, 1), first + 40);
  expect('GET', await client.get(key), String(first + 40));
  return first + 40;
}

// Checks that `client` cannot get ready and that an error event on the way matches `pattern`
// (ioredis rejects connect() with a generic "Connection is closed." and says why in the event).
async function failsToConnect(what, client, pattern) {
  const seen = [];
  client.on('error', (error) => seen.push(String(error.message)));
  await rejects(`connecting ${what}`, ready(client).then(() => client.ping()), /./);
  if (!seen.some((message) => pattern.test(message))) {
    fail(`connecting ${what}: want an error event matching ${pattern}, got ${JSON.stringify(seen)}`);
  }
  client.disconnect();
}

const modes = {
  async basic(args) {
    const client = await ready(connect(args));
    expect('PING', await client.ping(), 'PONG');
    expect('GET on a fresh server', await client.get(args.key), '0');
    await counterRoundTrip(client, args.key);
    expect('EXISTS', await client.exists(args.key), 1);
    await rejects('INCR other', client.incr('other'), /no such key/);
    await rejects('SET', client.set(args.key, 5), /unknown command/);
    expect('GET after errors', await client.get(args.key), '40');
    client.disconnect();
  },

  async password(args) {
    // Without a password, the ready check's INFO gets NOAUTH: ioredis reports "Ready check
    // failed: NOAUTH ..." as an error event and closes the connection (as with Redis itself).
    await failsToConnect('without a password', connect(args), /NOAUTH/);
    await failsToConnect('with a wrong password', connect(args, {password: 'wrong'}), /WRONGPASS/);
    const client = await ready(connect(args, {password: args.password}));
    expect('PING', await client.ping(), 'PONG');
    await counterRoundTrip(client, args.key);
    client.disconnect();
  },

  async tls(args) {
    const client = await ready(connect(args, {password: args.password}));
    expect('PING over TLS', await client.ping(), 'PONG');
    await counterRoundTrip(client, args.key);
    client.disconnect();
    // Trusting the system's CAs only, the handshake fails.
    await failsToConnect('over TLS without the CA', connect(args, {tls: {}}), /certificate/);
  },

  async pipeline(args) {
    const client = await ready(connect(args));
    let first = Number(await client.get(args.key));
    // pipeline(): the commands in one write, each reply [error, value].
    const pipe = client.pipeline();
    for (let i = 0; i < 100; ++i) pipe.incr(args.key);
    pipe.get(args.key);
    const piped = await pipe.exec();
    const want = Array.from({length: 100}, (_, i) => [null, first + i + 1]);
    expect('pipeline replies', piped, [...want, [null, String(first + 100)]]);
    first += 100;
    // multi().exec(): MULTI, the commands, EXEC.
    const multi = await client.multi().incr(args.key).incrby(args.key, 5).get(args.key).exec();
    expect('multi().exec()', multi, [[null, first + 1], [null, first + 6], [null, String(first + 6)]]);
    first += 6;
    // An error inside a transaction: the others still run, the error in its place.
    const mixed = await client.multi().incr(args.key).incr('other').incr(args.key).exec();
    expect('EXEC length', mixed.length, 3);
    expect('EXEC [0]', mixed[0], [null, first + 1]);
    if (!mixed[1][0] || !/no such key/.test(mixed[1][0].message)) {
      fail(`EXEC [1]: want an error, got ${JSON.stringify(mixed[1])}`);
    }
    expect('EXEC [2]', mixed[2], [null, first + 2]);
    // WATCH, then another client writes: EXEC answers null and runs nothing.
    const other = await ready(connect(args));
    expect('WATCH', await client.watch(args.key), 'OK');
    await other.incr(args.key);
    expect('EXEC after a write to the watched key', await client.multi().incr(args.key).exec(), null);
    expect('GET', await client.get(args.key), String(first + 3));
    other.disconnect();
    client.disconnect();
  },

  async unique(args) {
    const clients = 20;
    const perClient = 200;
    const probe = await ready(connect(args));
    const first = Number(await probe.get(args.key)) + 1;
    const taken = await Promise.all(Array.from({length: clients}, async () => {
      const client = await ready(connect(args));
      const mine = [];
      for (let i = 0; i < perClient; ++i) mine.push(await client.incr(args.key));
      // and as many again, all sent at once (ioredis writes them back to back)
      mine.push(...await Promise.all(Array.from({length: perClient}, () => client.incr(args.key))));
      client.disconnect();
      return mine;
    }));
    expectRange('INCR results', taken.flat(), first, clients * perClient * 2);
    expect('GET', await probe.get(args.key), String(first - 1 + clients * perClient * 2));
    probe.disconnect();
  },
};

start('ioredis_client', modes);
