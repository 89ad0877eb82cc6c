'use strict';

// The spool: every report is appended to a local file before the call that made it returns,
// and the file is read back in order by the sender. What has been delivered is marked by a byte
// offset kept in a second file, so a killed process loses nothing it was given: the next one
// delivers from that offset on (a report delivered just before the kill may go twice, which
// ingest and the worker make harmless).

const fs = require('node:fs');
const path = require('node:path');

const NEWLINE = 0x0a;

class SpoolInUse extends Error {}

class Journal {
  constructor(dir) {
    fs.mkdirSync(dir, { recursive: true });
    this.lockPath = path.join(dir, 'lock');
    this.logPath = path.join(dir, 'journal.ndjson');
    this.offsetPath = path.join(dir, 'delivered');
    this.rejectedPath = path.join(dir, 'rejected.ndjson');
    this._lock();
    this.fd = fs.openSync(this.logPath, 'a+');
    this._repairTornTail();
    this.size = fs.fstatSync(this.fd).size;
    this.delivered = Math.min(this._readOffset(), this.size);
  }

  // One process per spool directory: two would deliver each other's reports.
  _lock() {
    try {
      fs.writeFileSync(this.lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const holder = Number(fs.readFileSync(this.lockPath, 'utf8'));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new SpoolInUse(`spool ${path.dirname(this.lockPath)} is in use by process ${holder}`);
    }
    fs.writeFileSync(this.lockPath, String(process.pid)); // its holder died: take it over
  }

  // A process killed in the middle of an append may leave half a line; cut it, so that the
  // next append starts a line of its own.
  _repairTornTail() {
    const size = fs.fstatSync(this.fd).size;
    if (size === 0) return;
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - tail.length);
      const read = fs.readSync(this.fd, tail, 0, end - start, start);
      const last = tail.subarray(0, read).lastIndexOf(NEWLINE);
      if (last === read - 1 && end === size) return; // ends with a whole line
      if (last >= 0) {
        fs.ftruncateSync(this.fd, start + last + 1);
        return;
      }
      end = start;
    }
    fs.ftruncateSync(this.fd, 0);
  }

  _readOffset() {
    try {
      return Number(fs.readFileSync(this.offsetPath, 'utf8')) || 0;
    } catch (error) {
      if (error.code === 'ENOENT') return 0;
      throw error;
    }
  }

  append(kind, item) {
    const line = Buffer.from(JSON.stringify({ k: kind, v: item }) + '\n');
    fs.writeSync(this.fd, line);
    this.size += line.length;
  }

  get pending() {
    return this.size - this.delivered;
  }

  // The next reports after what was delivered: whole lines, at most `maxItems` of them and
  // about `maxBytes` (one line more when a single line is larger).
  next(maxItems, maxBytes) {
    if (this.pending === 0) return null;
    const buffer = Buffer.alloc(Math.min(this.pending, maxBytes));
    const read = fs.readSync(this.fd, buffer, 0, buffer.length, this.delivered);
    let text = buffer.subarray(0, read);
    let cut = text.lastIndexOf(NEWLINE);
    if (cut < 0) {
      text = this._oneLine();
      cut = text.length - 1;
    }
    const lines = text.subarray(0, cut + 1).toString('utf8').split('\n');
    lines.pop();
    const reports = lines.slice(0, maxItems).map((line) => JSON.parse(line));
    const bytes = lines.slice(0, maxItems).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    return { reports, end: this.delivered + bytes };
  }

  _oneLine() {
    const chunks = [];
    let position = this.delivered;
    for (;;) {
      const chunk = Buffer.alloc(256 * 1024);
      const read = fs.readSync(this.fd, chunk, 0, chunk.length, position);
      const newline = chunk.subarray(0, read).indexOf(NEWLINE);
      if (newline >= 0) {
        chunks.push(chunk.subarray(0, newline + 1));
        return Buffer.concat(chunks);
      }
      chunks.push(chunk.subarray(0, read));
      position += read;
    }
  }

  // Everything before `end` was delivered. Once all is, the file starts over empty.
  commit(end) {
    this.delivered = end;
    if (this.delivered === this.size) {
      fs.ftruncateSync(this.fd, 0);
      this.size = 0;
      this.delivered = 0;
    }
    const temporary = this.offsetPath + '.tmp';
    fs.writeFileSync(temporary, String(this.delivered));
    fs.renameSync(temporary, this.offsetPath);
  }

  // Reports ingest refused for good (a 4xx other than authentication): kept here, not retried.
  setAside(kind, items, status, answer) {
    const line = JSON.stringify({ k: kind, status, answer, items, at: new Date().toISOString() });
    fs.appendFileSync(this.rejectedPath, line + '\n');
  }

  close() {
    fs.closeSync(this.fd);
    fs.rmSync(this.lockPath, { force: true });
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

module.exports = { Journal, SpoolInUse };
