// A Laravel Echo + pusher-js client (the real npm packages) driven by the gateway's tests.
// Usage: node echo_client.mjs '<json config>'; prints one JSON object per line on stdout:
//   {"type":"state","current":…}  {"type":"subscribed","channel":…}
//   {"type":"error","channel":…,"data":…}  {"type":"event","channel":…,"data":…}
// config: {host, port, key, public: [names], private: [names],
//          auth: "laravel" (sign like Laravel's /broadcasting/auth with `secret`)
//              | "endpoint" (POST the gateway's own auth endpoint with a workspace `token`)}
import crypto from 'node:crypto';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

const config = JSON.parse(process.argv[2]);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// What Laravel's PusherBroadcaster::validAuthenticationResponse returns.
function laravelSignature(socketId, channelName) {
  const digest = crypto
    .createHmac('sha256', config.secret)
    .update(`${socketId}:${channelName}`)
    .digest('hex');
  return { auth: `${config.key}:${digest}` };
}

const channelAuthorization =
  config.auth === 'laravel'
    ? {
        customHandler: ({ socketId, channelName }, callback) =>
          callback(null, laravelSignature(socketId, channelName)),
      }
    : {
        endpoint: `http://${config.host}:${config.port}/broadcasting/auth`,
        transport: 'ajax',
        headers: { Authorization: `Bearer ${config.token}` },
      };

const echo = new Echo({
  broadcaster: 'pusher',
  Pusher,
  key: config.key,
  cluster: 'mt1',
  wsHost: config.host,
  wsPort: config.port,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  channelAuthorization,
});

echo.connector.pusher.connection.bind('state_change', (states) =>
  print({ type: 'state', current: states.current }),
);

function watch(channel, name) {
  channel
    .subscribed(() => print({ type: 'subscribed', channel: name }))
    .error((error) => print({ type: 'error', channel: name, data: error }))
    // The original app's listener: a dot-prefixed name skips Echo's namespace.
    .listen('.campaign.statistics.updated', (data) => print({ type: 'event', channel: name, data }));
}

for (const name of config.public ?? []) watch(echo.channel(name), name);
// Echo adds the "private-" prefix itself, as in the Laravel app's code.
for (const name of config.private ?? []) watch(echo.private(name), `private-${name}`);

process.stdin.resume();
process.stdin.on('end', () => {
  echo.disconnect();
  process.exit(0);
});
