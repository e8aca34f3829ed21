package io.fusedopt.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Set;
import jcuda.JCudaVersion;
import jcuda.LibUtils;

/**
 * Loads JCuda's native libraries from a private directory, so that no library planted by another user can run in
 * this process.
 *
 * <p>JCuda's own loader extracts {@code lib<name>-<version>-<os>-<arch>.so} from its jar into
 * {@code java.io.tmpdir} under that fixed name and loads a file already there instead of replacing it: in a shared
 * {@code /tmp} anyone could have put one there first. Before JCuda's loader runs (the first use of its class),
 * this class creates a fresh directory inside {@code java.io.tmpdir} that only the current user can enter
 * ({@code rwx------}, checked after creation together with its owner), writes the library from the classpath into
 * it and checks the written file's SHA-256 against the resource, then points {@code java.io.tmpdir} at that
 * directory while JCuda's loader runs, so that the file it finds there is the verified one. The property is
 * restored at once and the directory removed (a loaded library stays mapped). The version in the name is JCuda's
 * own ({@link JCudaVersion#get()}), so an upgrade of JCuda needs no change here.
 *
 * <p>A library on {@code java.library.path} is still preferred by JCuda's loader: that is the machine owner's
 * deliberate choice, not a shared directory. Other threads that read {@code java.io.tmpdir} during the few
 * milliseconds of a load see the private directory, which the current user can use.
 */
public final class JCudaNatives {
    private static final Object LOCK = new Object();
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static boolean driverLoaded;
    private static boolean cublasLoaded;

    private JCudaNatives() {
    }

    /**
     * Initialises {@code jcuda.driver.JCudaDriver}, whose static initialiser loads the driver bindings, from a
     * private directory; a no-op once done.
     *
     * @throws UnsatisfiedLinkError when the library cannot be prepared or loaded (for instance without
     *     {@code libcuda.so.1}); {@link CudaBackend#open} turns it into a reason
     */
    public static void loadDriver() {
        synchronized (LOCK) {
            if (!driverLoaded) {
                load("JCudaDriver", "jcuda.driver.JCudaDriver");
                driverLoaded = true;
            }
        }
    }

    /**
     * Initialises {@code jcuda.jcublas.JCublas2} from a private directory; a no-op once done.
     *
     * @throws UnsatisfiedLinkError when the library cannot be prepared or loaded (for instance without
     *     {@code libcublas.so.12})
     */
    public static void loadCublas() {
        synchronized (LOCK) {
            if (!cublasLoaded) {
                load("JCublas2", "jcuda.jcublas.JCublas2");
                cublasLoaded = true;
            }
        }
    }

    /** The file name JCuda's loader uses for library {@code base}: {@code lib<base>-<version>-<os>-<arch>.so}. */
    static String fileName(String base) {
        return LibUtils.createLibraryFileName(LibUtils.createPlatformLibraryName(base + "-" + JCudaVersion.get()));
    }

    private static void load(String base, String className) {
        String file = fileName(base);
        Path dir;
        try {
            dir = privateDirectory();
        } catch (IOException e) {
            throw linkError("cannot create a private directory for " + file + " in java.io.tmpdir ("
                    + System.getProperty("java.io.tmpdir") + "): " + e.getMessage(), e);
        }
        String tmpdir = System.getProperty("java.io.tmpdir");
        Path lib = dir.resolve(file);
        try {
            extract("/lib/" + file, lib);
            System.setProperty("java.io.tmpdir", dir.toString());
            try {
                Class.forName(className, true, JCudaNatives.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw linkError(className + " is not on the class path", e);
            } catch (ExceptionInInitializerError e) {
                Throwable c = e.getCause();
                if (c instanceof LinkageError le) {
                    throw le;
                }
                throw e;
            } finally {
                System.setProperty("java.io.tmpdir", tmpdir);
            }
        } catch (IOException e) {
            throw linkError("cannot write " + file + " into " + dir + ": " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(lib);
                Files.deleteIfExists(dir);
            } catch (IOException ignored) {
                // a leftover in a directory only this user can read harms no one
            }
        }
    }

    /** A new directory in {@code java.io.tmpdir} that only the current user can read, write or enter. */
    static Path privateDirectory() throws IOException {
        Path base = Path.of(System.getProperty("java.io.tmpdir"));
        Path dir = Files.createTempDirectory(base, "fusedopt-jcuda-", PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        String me = System.getProperty("user.name");
        if (!a.isDirectory() || !a.permissions().equals(OWNER_ONLY) || !a.owner().getName().equals(me)) {
            Files.deleteIfExists(dir);
            throw new IOException(dir + " is not a directory of " + me + " with permissions rwx------ (got "
                    + PosixFilePermissions.toString(a.permissions()) + ", owner " + a.owner().getName() + ")");
        }
        return dir;
    }

    // Writes the resource to a new file and checks what the file holds against what the resource holds.
    private static void extract(String resource, Path to) throws IOException {
        byte[] want;
        try (InputStream in = JCudaNatives.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("resource " + resource + " is not on the class path (jcuda-natives for this"
                        + " platform is missing)");
            }
            want = in.readAllBytes();
        }
        try (OutputStream out = Files.newOutputStream(to, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            out.write(want);
        }
        if (!Arrays.equals(sha256(want), sha256(Files.readAllBytes(to)))) {
            throw new IOException(to + " does not hold what was written to it");
        }
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this Java runtime", e);
        }
    }

    private static UnsatisfiedLinkError linkError(String message, Throwable cause) {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError(message);
        e.initCause(cause);
        return e;
    }
}
