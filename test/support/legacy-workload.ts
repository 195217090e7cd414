export * from '../../src/demo/legacy-workload.js';
