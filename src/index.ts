// Public embedding API of the weft package.
export { WeftError } from './errors.js';
