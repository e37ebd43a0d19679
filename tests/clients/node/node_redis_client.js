// node-redis (the npm package `redis`, v4, pinned in package.json) against count-server's RESP
// port, as a user runs it. Run by tests/e2e/redis_clients_e2e_test.cpp against a server it
// started on 127.0.0.1; exits 1 with a message at the first mismatch. No reconnects.
// usage: node node_redis_client.js basic|password|tls|pipeline|unique --port N [--password PW]
//        [--ca FILE] [--key NAME]
'use strict';

const {createClient, WatchError} = require('redis');
const {fail, expect, expectRange, start, rejects} = require('./common');

function connect(args, extra = {}) {
  const socket = {host: '127.0.0.1', port: args.port, connectTimeout: 10000, reconnectStrategy: false};
  if (args.caPem) Object.assign(socket, {tls: true, ca: args.caPem});
  Object.assign(socket, extra.socket || {});
  const client = createClient({...extra, socket});
  client.on('error', () => {});  // each failure also rejects the command that met it
  return client;
}

async function counterRoundTrip(client, key) {
  const first = Number(await client.get(key));
  expect('INCR', await client.incr(key), first + 1);
  expect('INCRBY 41', await client.incrBy(key, 41), first + 42);
  expect('DECR', await client.decr(key), first + 41);
  expect('DECRBY 1', await client.decrBy(key, 1), first + 40);
  expect('GET', await client.get(key), String(first + 40));
  return first + 40;
}

const modes = {
  async basic(args) {
    const client = connect(args);
    await client.connect();  // sends CLIENT SETINFO LIB-NAME and LIB-VER first
    expect('PING', await client.ping(), 'PONG');
    expect('GET on a fresh server', await client.get(args.key), '0');
    await counterRoundTrip(client, args.key);
    expect('EXISTS', await client.exists(args.key), 1);
    expect('TYPE', await client.type(args.key), 'string');
    await rejects('INCR other', client.incr('other'), /no such key/);
    await rejects('SET', client.set(args.key, '5'), /unknown command/);
    expect('GET after errors', await client.get(args.key), '40');
    await client.quit();
  },

  async password(args) {
    const anonymous = connect(args);
    await anonymous.connect();
    await rejects('INCR without a password', anonymous.incr(args.key), /NOAUTH/);
    await anonymous.disconnect();
    const wrong = connect(args, {password: 'wrong'});
    await rejects('a wrong password', wrong.connect().then(() => wrong.ping()), /WRONGPASS/);
    if (wrong.isOpen) await wrong.disconnect();
    const client = connect(args, {password: args.password});
    await client.connect();
    expect('PING', await client.ping(), 'PONG');
    await counterRoundTrip(client, args.key);
    await client.quit();
  },

  async tls(args) {
    const client = connect(args, {password: args.password});
    await client.connect();
    expect('PING over TLS', await client.ping(), 'PONG');
    await counterRoundTrip(client, args.key);
    await client.quit();
    const untrusting = connect(args, {socket: {ca: undefined}});  // the system's CAs only
    await rejects('a TLS client without the CA', untrusting.connect(), /certificate/);
  },

  async pipeline(args) {
    const client = connect(args);
    await client.connect();
    let first = Number(await client.get(args.key));
    // Commands issued in the same tick are written together (node-redis pipelines them).
    const piped = await Promise.all(Array.from({length: 100}, () => client.incr(args.key)));
    expect('pipelined replies', piped, Array.from({length: 100}, (_, i) => first + i + 1));
    first += 100;
    // multi().exec(): MULTI, the commands, EXEC.
    const multi = await client.multi().incr(args.key).incrBy(args.key, 5).get(args.key).exec();
    expect('multi().exec()', multi, [first + 1, first + 6, String(first + 6)]);
    first += 6;
    // execAsPipeline(): the same commands without MULTI/EXEC.
    const asPipeline = await client.multi().incr(args.key).decr(args.key).execAsPipeline();
    expect('execAsPipeline()', asPipeline, [first + 1, first]);
    // An error inside a transaction: the others still run; node-redis throws MultiErrorReply.
    try {
      await client.multi().incr(args.key).incr('other').incr(args.key).exec();
      fail('EXEC with an error inside: no error');
    } catch (error) {
      if (!error.replies) throw error;
      expect('EXEC error indexes', error.errorIndexes, [1]);
      expect('EXEC [0]', error.replies[0], first + 1);
      expect('EXEC [2]', error.replies[2], first + 2);
    }
    first += 2;
    // WATCH, then another client writes: EXEC answers null, node-redis throws WatchError.
    const other = connect(args);
    await other.connect();
    await client.executeIsolated(async (isolated) => {
      expect('WATCH', await isolated.watch(args.key), 'OK');
      await other.incr(args.key);
      await rejects('EXEC after a write to the watched key',
                    isolated.multi().incr(args.key).exec(), /watched keys/);
    });
    expect('GET', await client.get(args.key), String(first + 1));
    await other.quit();
    await client.quit();
  },

  async unique(args) {
    const clients = 20;
    const perClient = 200;
    const probe = connect(args);
    await probe.connect();
    const first = Number(await probe.get(args.key)) + 1;
    const taken = await Promise.all(Array.from({length: clients}, async () => {
      const client = connect(args);
      await client.connect();
      const mine = [];
      for (let i = 0; i < perClient; ++i) mine.push(await client.incr(args.key));
      mine.push(...await Promise.all(Array.from({length: perClient}, () => client.incr(args.key))));
      await client.quit();
      return mine;
    }));
    expectRange('INCR results', taken.flat(), first, clients * perClient * 2);
    expect('GET', await probe.get(args.key), String(first - 1 + clients * perClient * 2));
    await probe.quit();
  },
};

// WatchError is what EXEC's null array becomes; named here so that a rename fails loudly.
if (typeof WatchError !== 'function') fail('redis exports no WatchError');
start('node_redis_client', modes);
