// Public embedding API of the weft package.
export { WeftError } from './errors.js';
export { createAgent, type Agent, type AgentOptions } from './agent/agent.js';
export { AgentError, type AgentErrorCode } from './agent/errors.js';
