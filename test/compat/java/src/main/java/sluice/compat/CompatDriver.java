package sluice.compat;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import inference.GRPCInferenceServiceGrpc;
import inference.GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub;
import inference.GrpcService.InferStatistics;
import inference.GrpcService.InferTensorContents;
import inference.GrpcService.ModelConfigRequest;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelInferRequest.InferInputTensor;
import inference.GrpcService.ModelInferRequest.InferRequestedOutputTensor;
import inference.GrpcService.ModelInferResponse;
import inference.GrpcService.ModelInferResponse.InferOutputTensor;
import inference.GrpcService.ModelMetadataRequest;
import inference.GrpcService.ModelMetadataResponse;
import inference.GrpcService.ModelMetadataResponse.TensorMetadata;
import inference.GrpcService.ModelReadyRequest;
import inference.GrpcService.ModelStatistics;
import inference.GrpcService.ModelStatisticsRequest;
import inference.GrpcService.RepositoryIndexRequest;
import inference.GrpcService.RepositoryIndexResponse.ModelIndex;
import inference.GrpcService.ServerLiveRequest;
import inference.GrpcService.ServerMetadataRequest;
import inference.GrpcService.ServerMetadataResponse;
import inference.GrpcService.ServerReadyRequest;
import inference.GrpcService.StatisticDuration;
import inference.ModelConfigOuterClass.DataType;
import inference.ModelConfigOuterClass.ModelConfig;
import inference.ModelConfigOuterClass.ModelInput;
import inference.ModelConfigOuterClass.ModelOutput;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Runs a fixed sequence of KServe V2 / Triton gRPC calls against a server and prints one JSON
 * object per step on stdout. See test/compat/README.md for the sequence and the output format.
 *
 * <p>A step's {@code ok} is true when the call behaved as the protocol requires: the expected
 * status code, a decodable response, and live/ready answers of true. Checking what the values
 * mean for the test model (labels, probabilities) is left to the node:test suite that reads the
 * lines.
 */
public final class CompatDriver {
  /** Model served by the Sluice test fixture. */
  static final String DEFAULT_MODEL = "fraud";
  /** Per-call deadline: generous because the first inference may create the ONNX session on a
   *  2-core CI machine, and a deadline that fires there would read as a compatibility failure. */
  static final long DEFAULT_TIMEOUT_MS = 15_000;
  static final String INPUT_NAME = "features";
  static final int ROWS = 3;
  static final int FEATURES = 20;
  /** Outputs the typed request names explicitly; the raw request asks for none, meaning "all". */
  static final List<String> REQUESTED_OUTPUTS = List.of("label", "probabilities");
  /** A model name that no repository should contain. */
  static final String UNKNOWN_MODEL = "sluice-compat-no-such-model";

  static final int EXIT_OK = 0;
  static final int EXIT_STEP_FAILED = 1;
  static final int EXIT_USAGE = 2;
  static final int EXIT_UNREACHABLE = 3;

  private static final String USAGE = """
      usage: java -jar sluice-compat-java.jar --target HOST:PORT [--model NAME] [--timeout-ms N]
        --target      address of the Sluice gRPC server (plaintext), e.g. 127.0.0.1:50051
        --model       model to exercise (default: %s)
        --timeout-ms  deadline of each call in milliseconds (default: %d)
      exit status: 0 all steps ok, 1 a step failed, 2 bad arguments, 3 server unreachable
      """.formatted(DEFAULT_MODEL, DEFAULT_TIMEOUT_MS);

  /** A response that arrived but is not what the protocol requires. */
  static final class CheckFailed extends Exception {
    private static final long serialVersionUID = 1L;

    CheckFailed(String message) {
      super(message);
    }
  }

  @FunctionalInterface
  interface StepBody {
    void run(Map<String, Object> line) throws Exception;
  }

  private final ManagedChannel channel;
  private final String model;
  private final long timeoutMs;
  private final List<String> failed = new ArrayList<>();
  /** Set by the first call that fails with UNAVAILABLE; the remaining steps are not run. */
  private Status unreachable;

  private CompatDriver(ManagedChannel channel, String model, long timeoutMs) {
    this.channel = channel;
    this.model = model;
    this.timeoutMs = timeoutMs;
  }

  public static void main(String[] args) {
    Map<String, String> opts = parseArgs(args);
    if (opts == null) System.exit(EXIT_USAGE);
    String target = opts.get("--target");
    ManagedChannel channel = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
    int exit;
    try {
      exit = new CompatDriver(channel, opts.get("--model"), Long.parseLong(opts.get("--timeout-ms"))).run(target);
    } finally {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    System.exit(exit);
  }

  private int run(String target) {
    step("client_info", line -> {
      line.put("target", target);
      line.put("model", model);
      line.putAll(buildInfo());
    });
    float[] features = sampleFeatures();
    List<Runnable> steps = List.of(
        () -> step("server_live", line -> {
          boolean live = rpc().serverLive(ServerLiveRequest.getDefaultInstance()).getLive();
          line.put("live", live);
          require(live, "expected live=true");
        }),
        () -> step("server_ready", line -> {
          boolean ready = rpc().serverReady(ServerReadyRequest.getDefaultInstance()).getReady();
          line.put("ready", ready);
          require(ready, "expected ready=true");
        }),
        () -> step("health_check", line -> {
          HealthCheckResponse r = HealthGrpc.newBlockingStub(channel)
              .withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS)
              .check(HealthCheckRequest.newBuilder().setService("").build());
          line.put("service", "");
          line.put("status", r.getStatus() == HealthCheckResponse.ServingStatus.UNRECOGNIZED
              ? Integer.toString(r.getStatusValue()) : r.getStatus().name());
          require(r.getStatus() == HealthCheckResponse.ServingStatus.SERVING, "expected status SERVING");
        }),
        () -> step("server_metadata", line -> {
          ServerMetadataResponse r = rpc().serverMetadata(ServerMetadataRequest.getDefaultInstance());
          line.put("name", r.getName());
          line.put("version", r.getVersion());
          line.put("extensions", List.copyOf(r.getExtensionsList()));
        }),
        () -> step("model_ready", line -> {
          boolean ready = rpc().modelReady(ModelReadyRequest.newBuilder().setName(model).build()).getReady();
          line.put("name", model);
          line.put("ready", ready);
          require(ready, "expected ready=true for model \"" + model + "\"");
        }),
        () -> step("model_metadata", line -> {
          ModelMetadataResponse r = rpc().modelMetadata(ModelMetadataRequest.newBuilder().setName(model).build());
          line.put("name", r.getName());
          line.put("versions", List.copyOf(r.getVersionsList()));
          line.put("platform", r.getPlatform());
          line.put("inputs", tensorMetadata(r.getInputsList()));
          line.put("outputs", tensorMetadata(r.getOutputsList()));
        }),
        () -> step("infer_typed", line -> {
          ModelInferRequest.Builder req = ModelInferRequest.newBuilder()
              .setModelName(model)
              .setId("compat-typed")
              .addInputs(typedInput(features, List.of((long) ROWS, (long) FEATURES)));
          for (String name : REQUESTED_OUTPUTS) {
            req.addOutputs(InferRequestedOutputTensor.newBuilder().setName(name));
          }
          line.put("input", ordered("name", INPUT_NAME, "datatype", "FP32",
              "shape", List.of(ROWS, FEATURES), "data", toList(features)));
          line.put("requested_outputs", REQUESTED_OUTPUTS);
          putInferResponse(line, rpc().modelInfer(req.build()));
        }),
        () -> step("infer_raw", line -> {
          ModelInferRequest req = ModelInferRequest.newBuilder()
              .setModelName(model)
              .setId("compat-raw")
              .addInputs(inputHeader(List.of((long) ROWS, (long) FEATURES)))
              .addRawInputContents(TensorCodec.encodeFp32(features))
              .build();
          putInferResponse(line, rpc().modelInfer(req));
        }),
        // The data agrees with the shape; only the shape disagrees with the model's [-1, 20].
        () -> expectStatus("infer_wrong_shape", Status.Code.INVALID_ARGUMENT, () -> rpc().modelInfer(
            ModelInferRequest.newBuilder()
                .setModelName(model)
                .addInputs(typedInput(Arrays.copyOf(features, ROWS * (FEATURES - 1)),
                    List.of((long) ROWS, (long) (FEATURES - 1))))
                .build())),
        // The shape is right; the raw buffer is one float short of it.
        () -> expectStatus("infer_raw_size_mismatch", Status.Code.INVALID_ARGUMENT, () -> rpc().modelInfer(
            ModelInferRequest.newBuilder()
                .setModelName(model)
                .addInputs(inputHeader(List.of((long) ROWS, (long) FEATURES)))
                .addRawInputContents(TensorCodec.encodeFp32(Arrays.copyOf(features, features.length - 1)))
                .build())),
        () -> expectStatus("infer_unknown_model", Status.Code.NOT_FOUND, () -> rpc().modelInfer(
            ModelInferRequest.newBuilder()
                .setModelName(UNKNOWN_MODEL)
                .addInputs(typedInput(features, List.of((long) ROWS, (long) FEATURES)))
                .build())),
        () -> step("repository_index", line -> {
          List<Object> models = new ArrayList<>();
          for (ModelIndex m : rpc().repositoryIndex(RepositoryIndexRequest.newBuilder().setReady(false).build())
              .getModelsList()) {
            models.add(ordered("name", m.getName(), "version", m.getVersion(), "state", m.getState(),
                "reason", m.getReason()));
          }
          line.put("models", models);
        }),
        () -> step("model_config", line -> {
          ModelConfig c = rpc().modelConfig(ModelConfigRequest.newBuilder().setName(model).build()).getConfig();
          line.put("name", c.getName());
          line.put("platform", c.getPlatform());
          line.put("backend", c.getBackend());
          line.put("max_batch_size", c.getMaxBatchSize());
          List<Object> inputs = new ArrayList<>();
          for (ModelInput in : c.getInputList()) {
            inputs.add(ordered("name", in.getName(), "data_type", dataType(in.getDataType(), in.getDataTypeValue()),
                "dims", List.copyOf(in.getDimsList())));
          }
          line.put("input", inputs);
          List<Object> outputs = new ArrayList<>();
          for (ModelOutput out : c.getOutputList()) {
            outputs.add(ordered("name", out.getName(), "data_type", dataType(out.getDataType(), out.getDataTypeValue()),
                "dims", List.copyOf(out.getDimsList())));
          }
          line.put("output", outputs);
          // Free-form parameters as Triton's stubs decode them: Sluice's version labels travel here.
          Map<String, Object> parameters = new TreeMap<>();
          c.getParametersMap().forEach((key, value) -> parameters.put(key, value.getStringValue()));
          line.put("parameters", parameters);
          if (c.hasDynamicBatching()) {
            line.put("dynamic_batching", ordered(
                "preferred_batch_size", List.copyOf(c.getDynamicBatching().getPreferredBatchSizeList()),
                "max_queue_delay_microseconds", c.getDynamicBatching().getMaxQueueDelayMicroseconds()));
          }
        }),
        () -> step("model_statistics", line -> {
          List<Object> stats = new ArrayList<>();
          for (ModelStatistics s : rpc().modelStatistics(ModelStatisticsRequest.newBuilder().setName(model).build())
              .getModelStatsList()) {
            InferStatistics i = s.getInferenceStats();
            List<Object> batches = new ArrayList<>();
            s.getBatchStatsList().forEach(b -> batches.add(ordered(
                "batch_size", b.getBatchSize(), "compute_infer", duration(b.getComputeInfer()))));
            stats.add(ordered("name", s.getName(), "version", s.getVersion(),
                "last_inference", s.getLastInference(), "inference_count", s.getInferenceCount(),
                "execution_count", s.getExecutionCount(),
                "inference_stats", ordered("success", duration(i.getSuccess()), "fail", duration(i.getFail()),
                    "queue", duration(i.getQueue()), "compute_input", duration(i.getComputeInput()),
                    "compute_infer", duration(i.getComputeInfer()), "compute_output", duration(i.getComputeOutput())),
                "batch_stats", batches));
          }
          line.put("model_stats", stats);
        }));
    for (Runnable s : steps) {
      if (unreachable != null) break;
      s.run();
    }

    Map<String, Object> summary = ordered("step", "summary", "ok", failed.isEmpty(), "failed", failed);
    if (unreachable != null) {
      String why = "cannot reach " + target + ": " + unreachable.getCode() + " " + describe(unreachable);
      summary.put("aborted", why);
      System.err.println("sluice-compat: " + why);
    }
    System.out.println(JsonLine.write(summary));
    if (unreachable != null) return EXIT_UNREACHABLE;
    return failed.isEmpty() ? EXIT_OK : EXIT_STEP_FAILED;
  }

  // ---- steps -------------------------------------------------------------------------------

  private void step(String name, StepBody body) {
    Map<String, Object> line = ordered("step", name, "ok", true);
    try {
      body.run(line);
    } catch (StatusRuntimeException e) {
      Status s = e.getStatus();
      line.put("ok", false);
      line.put("code", s.getCode().name());
      line.put("message", s.getDescription());
      if (s.getCause() != null) line.put("cause", String.valueOf(s.getCause()));
      if (s.getCode() == Status.Code.UNAVAILABLE) unreachable = s;
    } catch (CheckFailed | TensorCodec.DecodeException e) {
      line.put("ok", false);
      line.put("error", e.getMessage());
    } catch (Exception e) {
      line.put("ok", false);
      line.put("error", e.toString());
    }
    if (!Boolean.TRUE.equals(line.get("ok"))) failed.add(name);
    System.out.println(JsonLine.write(line));
    System.out.flush();
  }

  /** A step whose call must fail with {@code expected}; prints the code and message it got. */
  private void expectStatus(String name, Status.Code expected, Supplier<?> call) {
    step(name, line -> {
      line.put("expected_code", expected.name());
      try {
        call.get();
      } catch (StatusRuntimeException e) {
        Status s = e.getStatus();
        if (s.getCode() == Status.Code.UNAVAILABLE) throw e;
        line.put("code", s.getCode().name());
        line.put("message", s.getDescription());
        if (s.getCode() != expected) {
          throw new CheckFailed("expected " + expected + ", got " + s.getCode() + ": " + s.getDescription());
        }
        return;
      }
      line.put("code", Status.Code.OK.name());
      throw new CheckFailed("expected " + expected + ", got OK");
    });
  }

  /** Stubs fix their deadline when created, so each call gets a fresh one. */
  private GRPCInferenceServiceBlockingStub rpc() {
    return GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
  }

  private static void require(boolean condition, String message) throws CheckFailed {
    if (!condition) throw new CheckFailed(message);
  }

  // ---- requests and responses --------------------------------------------------------------

  /**
   * Row r, column c holds ((r * 20 + c) mod 16) / 8 - 1: values in [-1, 0.875] that are exact in
   * float32, so the printed input reads back bit for bit in any language.
   */
  static float[] sampleFeatures() {
    float[] values = new float[ROWS * FEATURES];
    for (int i = 0; i < values.length; i++) values[i] = (i % 16) / 8.0f - 1.0f;
    return values;
  }

  private static InferInputTensor.Builder inputHeader(List<Long> shape) {
    return InferInputTensor.newBuilder().setName(INPUT_NAME).setDatatype("FP32").addAllShape(shape);
  }

  private static InferInputTensor.Builder typedInput(float[] values, List<Long> shape) {
    InferTensorContents.Builder contents = InferTensorContents.newBuilder();
    for (float v : values) contents.addFp32Contents(v);
    return inputHeader(shape).setContents(contents);
  }

  private static void putInferResponse(Map<String, Object> line, ModelInferResponse r)
      throws TensorCodec.DecodeException {
    boolean raw = r.getRawOutputContentsCount() > 0;
    if (raw && r.getRawOutputContentsCount() != r.getOutputsCount()) {
      throw new TensorCodec.DecodeException("response has " + r.getOutputsCount() + " outputs but "
          + r.getRawOutputContentsCount() + " raw_output_contents entries; expected one per output");
    }
    List<Object> outputs = new ArrayList<>();
    for (int i = 0; i < r.getOutputsCount(); i++) {
      InferOutputTensor o = r.getOutputs(i);
      String what = "output \"" + o.getName() + "\"";
      if (raw && o.hasContents()) {
        throw new TensorCodec.DecodeException(what + ": has typed contents although the response uses "
            + "raw_output_contents; the protocol allows one or the other");
      }
      List<Long> shape = List.copyOf(o.getShapeList());
      List<Object> data = raw
          ? TensorCodec.decodeRaw(what, o.getDatatype(), shape, r.getRawOutputContents(i))
          : TensorCodec.decodeTyped(what, o.getDatatype(), shape, o.getContents());
      outputs.add(ordered("name", o.getName(), "datatype", o.getDatatype(), "shape", shape, "data", data));
    }
    line.put("model_name", r.getModelName());
    line.put("model_version", r.getModelVersion());
    line.put("id", r.getId());
    line.put("encoding", raw ? "raw" : "typed");
    line.put("outputs", outputs);
  }

  private static List<Object> tensorMetadata(List<TensorMetadata> tensors) {
    List<Object> out = new ArrayList<>();
    for (TensorMetadata t : tensors) {
      out.add(ordered("name", t.getName(), "datatype", t.getDatatype(), "shape", List.copyOf(t.getShapeList())));
    }
    return out;
  }

  private static String dataType(DataType type, int number) {
    return type == DataType.UNRECOGNIZED ? Integer.toString(number) : type.name();
  }

  private static Map<String, Object> duration(StatisticDuration d) {
    return ordered("count", d.getCount(), "ns", d.getNs());
  }

  private static List<Object> toList(float[] values) {
    List<Object> out = new ArrayList<>(values.length);
    for (float v : values) out.add(v);
    return out;
  }

  private static Map<String, Object> ordered(Object... keysAndValues) {
    Map<String, Object> map = new LinkedHashMap<>();
    for (int i = 0; i < keysAndValues.length; i += 2) map.put((String) keysAndValues[i], keysAndValues[i + 1]);
    return map;
  }

  /** "io exception (java.net.ConnectException: Connection refused ...)" rather than just "io exception". */
  private static String describe(Status s) {
    String d = s.getDescription() == null ? "" : s.getDescription();
    return s.getCause() == null ? d : d + " (" + s.getCause() + ")";
  }

  private static Map<String, Object> buildInfo() {
    Properties p = new Properties();
    try (InputStream in = CompatDriver.class.getResourceAsStream("/sluice-compat.properties")) {
      if (in != null) p.load(in);
    } catch (IOException e) {
      // Build info is informational; a missing file must not fail the run.
    }
    return ordered("stubs", p.getProperty("stubs", "unknown"), "grpc_java", p.getProperty("grpc_java", "unknown"),
        "protobuf_java", p.getProperty("protobuf_java", "unknown"));
  }

  // ---- arguments ---------------------------------------------------------------------------

  /** Returns the options with defaults filled in, or null after printing why they are unusable. */
  static Map<String, String> parseArgs(String[] args) {
    Map<String, String> opts = new LinkedHashMap<>();
    opts.put("--model", DEFAULT_MODEL);
    opts.put("--timeout-ms", Long.toString(DEFAULT_TIMEOUT_MS));
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        System.out.print(USAGE);
        System.exit(EXIT_OK);
      }
      String key = arg;
      String value;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        key = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        return usageError("option " + arg + " needs a value");
      }
      if (!List.of("--target", "--model", "--timeout-ms").contains(key)) {
        return usageError("unknown option " + key);
      }
      opts.put(key, value);
    }
    String target = opts.get("--target");
    if (target == null || target.isEmpty()) return usageError("--target HOST:PORT is required");
    if (!target.matches(".+:\\d{1,5}")) return usageError("--target: expected HOST:PORT, got \"" + target + "\"");
    try {
      if (Long.parseLong(opts.get("--timeout-ms")) <= 0) throw new NumberFormatException();
    } catch (NumberFormatException e) {
      return usageError("--timeout-ms: expected a positive integer, got \"" + opts.get("--timeout-ms") + "\"");
    }
    return opts;
  }

  private static Map<String, String> usageError(String message) {
    System.err.println("sluice-compat: " + message);
    System.err.print(USAGE);
    return null;
  }
}
