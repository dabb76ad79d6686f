// Public embedding API of the weft package.
export { WeftError } from './errors.js';
export { createAgent, type Agent, type AgentOptions } from './agent/agent.js';
export { AgentError, type AgentErrorCode } from './agent/errors.js';
export { Weft, type WeftJoinOptions, type WeftFetchInit } from './netstack/weft.js';
export { TcpServer } from './netstack/tcp-server.js';
export { TcpSocket } from './netstack/tcp-socket.js';
export { UdpSocket } from './netstack/udp-socket.js';
export { NetstackError, type NetstackErrorCode } from './netstack/errors.js';
