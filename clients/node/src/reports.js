'use strict';

// Reports as ingest's /v1 API takes them (docs/ingest.md), built from what a whatsapp-web.js
// service has at hand. Built when the call is made: an ack's time is when the ack happened,
// however late its delivery.

// whatsapp-web.js MessageAck: ERROR -1, PENDING 0, SERVER 1, DEVICE 2, READ 3, PLAYED 4
const STATUS_OF_ACK = new Map([
  [-1, 'failed'],
  [0, 'pending'],
  [1, 'sent'],
  [2, 'delivered'],
  [3, 'read'],
  [4, 'played'],
]);

// Each kind of report, the endpoint that takes it, in the order a batch is delivered:
// a campaign before its dispatches (a sender key may only dispatch to a registered campaign).
const ENDPOINTS = new Map([
  ['campaign', '/v1/campaigns'],
  ['dispatch', '/v1/dispatches'],
  ['skip', '/v1/skips'],
  ['ack', '/v1/events'],
]);

function required(value, name) {
  if (value === undefined || value === null || String(value) === '') {
    throw new TypeError(`${name} is required`);
  }
  return String(value);
}

function serialized(id) {
  if (id && typeof id === 'object') return id._serialized || '';
  return id ? String(id) : '';
}

function ackReport(message, ack, now = new Date()) {
  const status = STATUS_OF_ACK.get(ack);
  if (status === undefined) throw new RangeError(`not a whatsapp-web.js ack: ${ack}`);
  const id = message && message.id;
  return {
    message_id: required(serialized(id), 'message.id._serialized'),
    status,
    provider: 'webjs',
    recipient: message.to || '',
    participant: serialized(id.participant) || message.author || '',
    occurred_at: now.toISOString(),
  };
}

// The limits of a dispatch's labels in tickstream's contract (docs/insights.md), in characters
// (code points, as ingest counts them). Ingest refuses a request holding one label beyond them,
// and with it every dispatch of the batch, so a call with such a label throws instead.
const LABEL_LIMITS = Object.freeze({ template: 128, variant: 64, tag: 64, tags: 5 });

function characters(text) {
  return [...text].length;
}

function label(value, name) {
  const text = String(value);
  if (characters(text) > LABEL_LIMITS[name]) {
    throw new RangeError(`${name} is longer than ${LABEL_LIMITS[name]} characters`);
  }
  return text;
}

function tagList(tags) {
  if (!Array.isArray(tags)) throw new TypeError('tags must be an array of strings');
  if (tags.length > LABEL_LIMITS.tags) throw new RangeError(`more than ${LABEL_LIMITS.tags} tags`);
  return tags.map((tag) => {
    if (tag === undefined || tag === null || String(tag) === '') throw new RangeError('a tag is empty');
    return label(tag, 'tag');
  });
}

// The optional labels of a dispatch, only those given (an empty one is no label).
function labels(dispatch) {
  const found = {};
  for (const name of ['template', 'variant']) {
    const value = dispatch[name];
    if (value !== undefined && value !== null && String(value) !== '') found[name] = label(value, name);
  }
  if (dispatch.tags !== undefined && dispatch.tags !== null) found.tags = tagList(dispatch.tags);
  return found;
}

function dispatchReport(dispatch, now = new Date()) {
  return {
    message_id: required(serialized(dispatch.message_id), 'message_id'),
    campaign_id: required(dispatch.campaign_id, 'campaign_id'),
    workspace_id: required(dispatch.workspace_id, 'workspace_id'),
    recipient: dispatch.recipient ? String(dispatch.recipient) : '',
    dispatched_at: new Date(dispatch.dispatched_at || now).toISOString(),
    ...labels(dispatch),
  };
}

function skipReport(skip, now = new Date()) {
  return {
    campaign_id: required(skip.campaign_id, 'campaign_id'),
    workspace_id: required(skip.workspace_id, 'workspace_id'),
    recipient: required(skip.recipient, 'recipient'),
    reason_code: skip.reason_code ? String(skip.reason_code) : '',
    reason: skip.reason ? String(skip.reason) : '',
    occurred_at: new Date(skip.occurred_at || now).toISOString(),
  };
}

function campaignReport(campaign) {
  return {
    campaign_id: required(campaign.campaign_id, 'campaign_id'),
    workspace_id: required(campaign.workspace_id, 'workspace_id'),
    name: campaign.name ? String(campaign.name) : '',
    total_recipients: Number(campaign.total_recipients || 0),
    uuid: campaign.uuid ? String(campaign.uuid) : '',
  };
}

module.exports = {
  STATUS_OF_ACK,
  ENDPOINTS,
  LABEL_LIMITS,
  ackReport,
  dispatchReport,
  skipReport,
  campaignReport,
};
