import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.GraphicsEnvironment;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.security.KeyStore;
import java.util.Arrays;
import javax.imageio.ImageIO;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

// `java -jar check.jar`: hello world, and the number of CAs in the JVM's default trust store
// (the generated /etc/ssl/certs/java/cacerts): zero would mean the store did not load.
// `utf8`: the charsets the JVM took from the locale, and a non-ASCII file name round trip.
// `fonts`: headless AWT finds font families and draws text into a PNG.
// `sleep`: a JVM for the debug images' jcmd and jstack to inspect.
public class Check {
    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "";
        if (what.equals("utf8")) {
            utf8();
        } else if (what.equals("fonts")) {
            fonts();
        } else if (what.equals("sleep")) {
            Thread.sleep(120_000);
        } else {
            hello();
        }
    }

    static void hello() throws Exception {
        System.out.println("hello from java " + System.getProperty("java.version"));
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        int trusted = 0;
        for (TrustManager m : factory.getTrustManagers()) {
            if (m instanceof X509TrustManager) {
                trusted += ((X509TrustManager) m).getAcceptedIssuers().length;
            }
        }
        System.out.println("trusted " + trusted);
    }

    static void utf8() throws Exception {
        System.out.println("defaultCharset " + Charset.defaultCharset());
        System.out.println("file.encoding " + System.getProperty("file.encoding"));
        System.out.println("sun.jnu.encoding " + System.getProperty("sun.jnu.encoding"));
        String name = "gr\u00fc\u00dfe-\u65e5\u672c-\u00e9t\u00e9.txt";
        File dir = Files.createTempDirectory("utf8").toFile();
        File file = new File(dir, name);
        Files.write(file.toPath(), "x".getBytes("UTF-8"));
        String[] listed = dir.list();
        boolean same = listed != null && listed.length == 1 && listed[0].equals(name) && new File(dir, listed[0]).exists();
        System.out.println((same ? "roundtrip ok " : "FAIL roundtrip ") + Arrays.toString(listed));
    }

    static void fonts() throws Exception {
        System.setProperty("java.awt.headless", "true");
        String[] families = GraphicsEnvironment.getLocalGraphicsEnvironment().getAvailableFontFamilyNames();
        System.out.println("families " + families.length + " " + String.join(",", families));
        BufferedImage image = new BufferedImage(200, 50, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setColor(Color.WHITE);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 24));
        g.drawString("dbuild \u00e9\u00df", 10, 35);
        g.dispose();
        int lit = 0;
        for (int x = 0; x < image.getWidth(); x++) {
            for (int y = 0; y < image.getHeight(); y++) {
                lit += (image.getRGB(x, y) & 0xffffff) != 0 ? 1 : 0;
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        if (!ImageIO.write(image, "png", png)) {
            System.out.println("FAIL no PNG writer");
        }
        byte[] bytes = png.toByteArray();
        boolean magic = bytes.length > 8 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G';
        System.out.println("lit " + lit);
        System.out.println((magic ? "png " : "FAIL png ") + bytes.length);
    }
}
