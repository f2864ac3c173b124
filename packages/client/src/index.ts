export { LodgeClient, type ClientOptions } from './lodge-client.js';
export { EventStream } from './event-stream.js';
export { errorFromBody } from './http-transport.js';
export { openWebSocket } from './ws-connect.js';
