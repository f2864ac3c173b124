export { LodgeClient, type ClientOptions } from './lodge-client.js';
export { EventStream } from './event-stream.js';
export { errorFromBody } from './http-transport.js';
export { openWebSocket } from './ws-connect.js';
export { ExecChannel, type ExecOutcome, type ExecOutput, type ExecSession } from './exec-session.js';
export type { FileSink, FileSource, PutEvents } from './file-transfer.js';
export { CHUNK_BYTES, measureFileTree, readFileTree, type TreeItem, type TreeReadOptions, type TreeTotals } from './file-tree-reader.js';
export { FileTreeWriter } from './file-tree-writer.js';
export { checkMessage, type BusListener, type Subscription } from './message-bus.js';
