#!/usr/bin/env node
// End-to-end check of the STP Cooperation Tracker API from Node.js, and a worked example of
// calling it with @grpc/grpc-js and @grpc/proto-loader (the .proto files are loaded at run
// time; nothing is generated).
//
//   create: countries (when missing), an organisation, a project with a request_id (and the
//           same request again, which must answer the same project);
//   read:   the project back, then its score with the reasons (polled: scores appear a moment
//           after the write);
//   subscribe: events of the project; once the stream is live, update the project and wait
//           until that very update arrives;
//   errors: an invalid project must answer INVALID_ARGUMENT with BadRequest field violations,
//           decoded from the "grpc-status-details-bin" trailer.
//
// Environment: STP_ADDRESS (default 127.0.0.1:50051), STP_API_KEY (sent as
// "authorization: Bearer <key>"), STP_TLS_CA / STP_PLAINTEXT (TLS is used for every address
// that is not loopback), STP_ORGANIZATION (your organisation, added as a participant; needed
// with a PARTNER key). Include directories can be moved with STP_PROTO_DIR,
// STP_GOOGLEAPIS_DIR, STP_GRPC_PROTO_DIR and STP_PROTOBUF_INCLUDE.
//
// Exits 0 when everything behaved as documented, 1 otherwise.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const INCLUDE_DIRS = [
  process.env.STP_PROTO_DIR || path.join(ROOT, 'protos'),
  process.env.STP_GOOGLEAPIS_DIR || '/usr/share/gocode/src/github.com/gogo/googleapis',
  process.env.STP_GRPC_PROTO_DIR || '/usr/share/grpc-proto',
  process.env.STP_PROTOBUF_INCLUDE || '/usr/include',  // google/protobuf/*.proto
];
const ADDRESS = process.env.STP_ADDRESS || '127.0.0.1:50051';
const API_KEY = process.env.STP_API_KEY || '';
const MY_ORGANIZATION = process.env.STP_ORGANIZATION || '';

const CALL_TIMEOUT_MS = 10000;  // every call has a deadline
const SCORE_WAIT_MS = 30000;
const EVENT_WAIT_MS = 30000;
const OVERALL_LIMIT_MS = 120000;

// ------------------------------------------------------------------ loading the protos

const packageDefinition = protoLoader.loadSync(
    [
      'stp/ingestion/v1/ingestion_service.proto',
      'stp/scoring/v1/scoring_service.proto',
      'stp/notification/v1/notification_service.proto',
    ],
    {
      keepCase: true,  // field names as in the .proto files (snake_case)
      longs: String,   // int64 as decimal strings, no precision loss
      enums: String,   // enum values by name
      defaults: true,  // unset fields read as their defaults, as in other languages
      oneofs: true,    // a virtual field names the member set in each oneof
      includeDirs: INCLUDE_DIRS,
    });
const api = grpc.loadPackageDefinition(packageDefinition);

// google.rpc.Status and its detail messages, for decoding errors.
const errorTypes = new protobuf.Root();
errorTypes.resolvePath = (origin, target) => {
  if (path.isAbsolute(target)) return target;
  for (const dir of INCLUDE_DIRS) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return target;
};
errorTypes.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
const Status = errorTypes.lookupType('google.rpc.Status');

// ------------------------------------------------------------------ calling

function isLoopback(address) {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function channelCredentials() {
  const plaintext = process.env.STP_PLAINTEXT;
  const useTls = plaintext === '0' || (plaintext !== '1' && !isLoopback(ADDRESS));
  if (!useTls) return grpc.credentials.createInsecure();
  const ca = process.env.STP_TLS_CA ? fs.readFileSync(process.env.STP_TLS_CA) : null;
  return grpc.credentials.createSsl(ca);
}

function metadata() {
  const md = new grpc.Metadata();
  if (API_KEY) md.set('authorization', `Bearer ${API_KEY}`);
  return md;
}

// Calls a unary method with the credentials and a deadline; resolves with the response.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata(), {deadline: Date.now() + CALL_TIMEOUT_MS},
                   (err, response) => {
                     if (err) {
                       err.method = method;
                       reject(err);
                     } else {
                       resolve(response);
                     }
                   });
  });
}

const codeName = (code) =>
  Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);

// Decodes the google.rpc.Status of an error: [{type, message}] for each detail.
function statusDetails(err) {
  const raw = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!raw || raw.length === 0) return [];
  const status = Status.decode(raw[0]);
  return status.details.map((any) => {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = errorTypes.lookupTypeOrEnum(typeName);
    return {type: typeName, message: type ? type.toObject(type.decode(any.value)) : any.value};
  });
}

function describeError(err) {
  const lines = [`${err.method || 'call'}: ${codeName(err.code)}: ${err.details}`];
  for (const d of statusDetails(err)) {
    if (d.type === 'google.rpc.BadRequest') {
      for (const v of d.message.field_violations || d.message.fieldViolations || []) {
        lines.push(`  field ${v.field}: ${v.description}`);
      }
    } else if (d.type === 'google.rpc.ErrorInfo') {
      lines.push(`  reason ${d.message.reason} (domain ${d.message.domain}) ` +
                 JSON.stringify(d.message.metadata || {}));
    } else if (d.type === 'google.rpc.RetryInfo') {
      const delay = d.message.retry_delay || d.message.retryDelay || {};
      lines.push(`  retry after ${Number(delay.seconds || 0) + (delay.nanos || 0) / 1e9} s`);
    } else {
      lines.push(`  detail ${d.type}: ${JSON.stringify(d.message)}`);
    }
  }
  return lines.join('\n');
}

class Unexpected extends Error {}

function expect(condition, what) {
  if (!condition) throw new Unexpected(what);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ the scenario

async function ensureCountry(registry, country) {
  const name = `countries/${country.alpha2}`;
  try {
    const existing = await call(registry, 'GetCountry', {name});
    console.log(`  ${name} exists (${existing.display_name})`);
    return;
  } catch (err) {
    if (err.code !== grpc.status.NOT_FOUND) throw err;
  }
  const created = await call(registry, 'UpsertCountry',
                             {country, request_id: crypto.randomUUID()});
  console.log(`  created ${created.name} (${created.display_name})`);
}

async function waitForScore(scoring, project) {
  const deadline = Date.now() + SCORE_WAIT_MS;
  for (;;) {
    try {
      return await call(scoring, 'GetProjectScore', {project});
    } catch (err) {
      // NOT_FOUND until the scoring service has read the project's event.
      if (err.code !== grpc.status.NOT_FOUND || Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}

// Subscribes to a project's events; once the stream is live (its first message, a heartbeat
// at the latest), runs `act(requestId)` and resolves with the first event carrying requestId.
// The id is chosen before acting because the event may arrive before the update's answer.
function subscribeAndWatch(notification, projectName, act) {
  return new Promise((resolve, reject) => {
    const requestId = crypto.randomUUID();
    const stream = notification.Subscribe(
        {filter: {projects: [projectName]}, heartbeat_seconds: 1}, metadata(),
        {deadline: Date.now() + EVENT_WAIT_MS + 30000});
    let settled = false;
    let acting = null;  // the promise of act(), once started
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.cancel();
      fn(value);
    };
    const timer = setTimeout(
        () => finish(reject, new Unexpected(`no event for our update within ${EVENT_WAIT_MS} ms`)),
        EVENT_WAIT_MS);
    stream.on('data', (message) => {
      if (acting === null) {
        console.log(`  subscribed; cursor ${message.cursor}`);
        acting = act(requestId);
        acting.catch((err) => finish(reject, err));
      }
      if (message.kind !== 'event') return;
      const e = message.event;
      console.log(`  event ${e.type} ${e.resource} revision ${e.revision} by ${e.actor}; ` +
                  `cursor ${message.cursor}`);
      if (e.request_id === requestId) {
        // Settle only once act() has finished too, so its output comes first.
        acting.then(() => finish(resolve, {event: e, cursor: message.cursor}), () => {});
      }
    });
    stream.on('error', (err) => {
      if (settled) return;  // our own cancel()
      err.method = 'Subscribe';
      finish(reject, err);
    });
  });
}

async function main() {
  console.log(`STP Cooperation Tracker Node.js client against ${ADDRESS}` +
              (API_KEY ? ' with an API key' : ' without credentials'));
  const creds = channelCredentials();
  const registry = new api.stp.ingestion.v1.IngestionService(ADDRESS, creds);
  const scoring = new api.stp.scoring.v1.ScoringService(ADDRESS, creds);
  const notification = new api.stp.notification.v1.NotificationService(ADDRESS, creds);
  try {
    console.log('1. create');
    await ensureCountry(registry, {
      alpha2: 'EG', alpha3: 'EGY', display_name: 'Egypt', region: 'Africa',
      income_group: 'INCOME_GROUP_LOWER_MIDDLE', bri: {member: true},
      indicators: [{name: 'internet_users_pct', value: 72, as_of: {year: 2023, month: 1, day: 1}}],
    });
    await ensureCountry(registry, {
      alpha2: 'CN', alpha3: 'CHN', display_name: 'China', region: 'Asia',
      income_group: 'INCOME_GROUP_UPPER_MIDDLE', bri: {member: true},
    });
    const org = await call(registry, 'CreateOrganization', {
      organization: {
        display_name: 'Tianjin Binhai Hi-Tech Zone Investment Co.',
        type: 'ORGANIZATION_TYPE_STP_OPERATOR', country: 'countries/CN',
        avenues: ['AVENUE_E_MANUFACTURING'], roles: ['PARTNER_ROLE_TECHNOLOGY_PARTNER'],
        languages: ['zh', 'en'],
      },
      request_id: crypto.randomUUID(),
    });
    console.log(`  created ${org.name} (${org.display_name})`);
    const participants = [
      {organization: org.name, role: 'PARTNER_ROLE_TECHNOLOGY_PARTNER', lead: true},
    ];
    if (MY_ORGANIZATION) {
      participants.push({organization: MY_ORGANIZATION, role: 'PARTNER_ROLE_IMPLEMENTER'});
    }
    const createRequest = {
      project: {
        title: 'Smart-manufacturing training centre, 10th of Ramadan City',
        host_country: 'countries/EG',
        avenues: ['AVENUE_E_MANUFACTURING'],
        dac_sectors: [32110],
        cooperation_model: 'COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH',
        participants,
        stage: 'PROJECT_STAGE_PROPOSED',
        financing: {budget: {currency_code: 'USD', units: '4500000'}},
      },
      request_id: crypto.randomUUID(),
    };
    const created = await call(registry, 'CreateProject', createRequest);
    console.log(`  created ${created.name} (revision ${created.revision}, etag ${created.etag})`);
    const retried = await call(registry, 'CreateProject', createRequest);
    expect(retried.name === created.name,
           `a retry with the same request_id answered ${retried.name}, not ${created.name}`);
    console.log(`  retried with the same request_id: same project ${retried.name}`);

    console.log('2. read');
    const read = await call(registry, 'GetProject', {name: created.name});
    expect(read.title === createRequest.project.title && read.etag === created.etag &&
           read.host_country === 'countries/EG' && read.participants.length === participants.length,
           `GetProject answered something else than was created: ${JSON.stringify(read)}`);
    const names = read.participants.map((p) => p.display_name || p.organization);
    console.log(`  ${read.name}: "${read.title}", stage ${read.stage}, ` +
                `participants ${names.join(', ')}`);
    const score = await waitForScore(scoring, created.name);
    expect(score.project === created.name && score.components.length > 0,
           `unexpected score ${JSON.stringify(score)}`);
    console.log(`  score ${score.total.toFixed(1)}, ${score.tier}, confidence ` +
                `${score.confidence.toFixed(2)} (model ${score.model_version})`);
    for (const c of score.components) {
      if (!c.applicable) continue;
      console.log(`    ${c.component}: ${c.value.toFixed(1)} (adds ${c.contribution.toFixed(1)})`);
      for (const reason of c.reasons) console.log(`      - ${reason}`);
    }

    console.log('3. subscribe and see an update');
    const seen = await subscribeAndWatch(notification, created.name, async (requestId) => {
      const updated = await call(registry, 'UpdateProject', {
        project: {name: created.name, stage: 'PROJECT_STAGE_APPROVED'},
        update_mask: {paths: ['stage']},
        etag: created.etag,
        request_id: requestId,
      });
      console.log(`  updated ${updated.name}: stage ${updated.stage}, ` +
                  `revision ${updated.revision}`);
    });
    expect(seen.event.type === 'EVENT_TYPE_STAGE_CHANGED',
           `our update arrived as ${seen.event.type}, expected EVENT_TYPE_STAGE_CHANGED`);
    expect(seen.event.project && seen.event.project.stage === 'PROJECT_STAGE_APPROVED',
           'the event does not carry the updated snapshot');
    console.log(`  saw our own update; resume later with cursor ${seen.cursor}`);

    console.log('4. errors');
    try {
      await call(registry, 'CreateProject', {
        project: {title: 'Incomplete', host_country: 'countries/ZZ'},
        request_id: crypto.randomUUID(),
      });
      throw new Unexpected('an invalid project was accepted');
    } catch (err) {
      if (err instanceof Unexpected) throw err;
      console.log('  ' + describeError(err).replace(/\n/g, '\n  '));
      expect(err.code === grpc.status.INVALID_ARGUMENT,
             `expected INVALID_ARGUMENT, got ${codeName(err.code)}`);
      const violations = statusDetails(err)
          .filter((d) => d.type === 'google.rpc.BadRequest')
          .flatMap((d) => d.message.field_violations || d.message.fieldViolations || []);
      expect(violations.some((v) => v.field === 'project.avenues'),
             `no field violation for project.avenues: ${JSON.stringify(violations)}`);
    }
    console.log('done');
    return 0;
  } catch (err) {
    if (err instanceof Unexpected) {
      console.error(`unexpected: ${err.message}`);
    } else if (err.code !== undefined) {
      console.error(`call failed: ${describeError(err)}`);
    } else {
      console.error(err);
    }
    return 1;
  } finally {
    registry.close();
    scoring.close();
    notification.close();
  }
}

const limit = setTimeout(() => {
  console.error(`unexpected: still running after ${OVERALL_LIMIT_MS} ms`);
  process.exit(1);
}, OVERALL_LIMIT_MS);
limit.unref();

main().then((code) => { process.exitCode = code; });
