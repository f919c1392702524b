// The gRPC driver's entry, kept by name for the callers that start it (test/system/grpc-helpers.ts):
// driverMain.ts runs the Node gRPC driver for any spec with `grpc`.
//   node --import tsx harness/load/grpcDriverMain.ts '<GrpcLoadSpec JSON>'
import './driverMain.ts';
