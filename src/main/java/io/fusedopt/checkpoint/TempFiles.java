package io.fusedopt.checkpoint;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The temporary files of atomic saves: their names, and the removal of those left by a process that died while
 * saving (a {@code kill -9}, a power cut). A name is {@code .<target>.fusedopt-<pid>-<start>-<random>.tmp}, where
 * {@code pid} and {@code start} (milliseconds since the epoch) identify the writing process. A later save to the
 * same target removes such a file only when all of these hold, which together prove that no live save owns it:
 * the name has exactly this form for this target, it is a regular file (not a link), it belongs to the same user
 * as the file the current save just created, and no process with that id and start time is alive.
 */
final class TempFiles {
    private static final long PID = ProcessHandle.current().pid();
    private static final long START = startMillis(ProcessHandle.current());

    private TempFiles() {
    }

    /** A fresh temporary name beside {@code target}. */
    static Path next(Path target) {
        String random = String.format("%016x", ThreadLocalRandom.current().nextLong());
        return target.resolveSibling("." + target.getFileName() + ".fusedopt-" + PID + "-" + START + "-" + random
                + ".tmp");
    }

    /**
     * Removes the stale temporary files of saves to {@code target}; {@code own} is a file the caller just created,
     * whose owner is the current user. Best effort: a file that cannot be examined or removed stays.
     *
     * @return how many were removed
     */
    static int removeStale(Path target, Path own) {
        Pattern name = Pattern.compile("\\." + Pattern.quote(target.getFileName().toString())
                + "\\.fusedopt-([0-9]{1,19})-([0-9]{1,19})-[0-9a-f]{16}\\.tmp");
        UserPrincipal me;
        try {
            me = Files.getOwner(own, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | UnsupportedOperationException e) {
            return 0;
        }
        int removed = 0;
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(target.getParent(),
                "." + globQuote(target.getFileName().toString()) + ".fusedopt-*.tmp")) {
            for (Path p : dir) {
                Matcher m = name.matcher(p.getFileName().toString());
                if (!m.matches() || p.equals(own)) {
                    continue;
                }
                if (stale(p, me, m.group(1), m.group(2))) {
                    try {
                        Files.delete(p);
                        removed++;
                    } catch (IOException ignored) {
                        // another save may have removed it first
                    }
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort: the save itself has already succeeded
        }
        return removed;
    }

    private static boolean stale(Path p, UserPrincipal me, String pid, String start) {
        try {
            PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile() || !a.owner().equals(me)) {
                return false;
            }
            long id = Long.parseLong(pid);
            long started = Long.parseLong(start);
            Optional<ProcessHandle> h = ProcessHandle.of(id);
            // Alive with the same start time: a save in progress. Alive with an unknown start time: maybe.
            return h.isEmpty() || !h.get().isAlive()
                    || (started != 0 && startMillis(h.get()) != 0 && startMillis(h.get()) != started);
        } catch (IOException | NumberFormatException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static long startMillis(ProcessHandle h) {
        return h.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }

    private static String globQuote(String s) {
        return s.replaceAll("([\\\\*?\\[\\]{}])", "\\\\$1");
    }
}
